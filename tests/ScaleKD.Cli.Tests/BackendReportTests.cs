using ScaleKD.Tests.Shared;

namespace ScaleKD.Cli.Tests;

/// <summary><c>scalekd info</c>: the tool loads TorchSharp and says which backend it uses.</summary>
public class BackendReportTests
{
    [Fact]
    public void ReportsTheCpuBackendAndAComputationOnIt()
    {
        var result = ChildProcess.Run("scalekd", null, "info");
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Contains("libtorch 2.10", result.StandardOutput);
        Assert.Contains("Backend: CPU", result.StandardOutput);
        Assert.Contains("finite result: True", result.StandardOutput);
    }

    [Fact]
    public void AskingForCudaOnACpuMachineIsOneReadableErrorAndAHint()
    {
        var result = ChildProcess.Run("scalekd", null, "info", "--device", "cuda");
        Assert.Equal(1, result.ExitCode);
        var lines = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("error: CUDA is not available", lines[0]);
        Assert.StartsWith("hint: ", lines[1]);
        Assert.DoesNotContain("   at ", result.StandardError);

        var verbose = ChildProcess.Run("scalekd", null, "info", "--device", "cuda", "--verbose");
        Assert.Contains("   at ", verbose.StandardError);
    }
}
