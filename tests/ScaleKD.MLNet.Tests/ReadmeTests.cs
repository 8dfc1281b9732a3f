using ScaleKD.Tests.Shared;

namespace ScaleKD.MLNet.Tests;

/// <summary>README's API example is the code of samples/QuickStart, which this test project builds.</summary>
public class ReadmeTests
{
    [Fact]
    public void TheReadmeShowsTheQuickStartSampleVerbatim()
    {
        var root = ChildProcess.MetadataValue("RepoRoot");
        var sample = File.ReadAllText(Path.Combine(root, "samples", "QuickStart", "Program.cs"));
        var begin = sample.IndexOf("// README-BEGIN\n", StringComparison.Ordinal) + "// README-BEGIN\n".Length;
        var end = sample.IndexOf("// README-END", StringComparison.Ordinal);
        var snippet = sample[begin..end];
        Assert.True(snippet.Length > 200, "the README region of samples/QuickStart/Program.cs is missing");
        Assert.Contains(snippet, File.ReadAllText(Path.Combine(root, "README.md")));
    }
}
