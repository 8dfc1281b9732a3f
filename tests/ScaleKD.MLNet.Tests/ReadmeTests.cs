using ScaleKD.Tests.Shared;

namespace ScaleKD.MLNet.Tests;

/// <summary>README's code examples are regions of programs that are built and run: samples/QuickStart (which this test
/// project builds) and tests/ScaleKD.StockScoringHost (run by the CLI tests on an exported zip).</summary>
public class ReadmeTests
{
    [Theory]
    [InlineData("samples/QuickStart/Program.cs")]
    [InlineData("tests/ScaleKD.StockScoringHost/Program.cs")]
    public void TheReadmeShowsTheProgramRegionVerbatim(string program)
    {
        var root = ChildProcess.MetadataValue("RepoRoot");
        var sample = File.ReadAllText(Path.Combine(root, program));
        var begin = sample.IndexOf("// README-BEGIN\n", StringComparison.Ordinal) + "// README-BEGIN\n".Length;
        var end = sample.IndexOf("// README-END", StringComparison.Ordinal);
        var snippet = sample[begin..end];
        Assert.True(snippet.Length > 200, $"the README region of {program} is missing");
        Assert.Contains(snippet, File.ReadAllText(Path.Combine(root, "README.md")));
    }
}
