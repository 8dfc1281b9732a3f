using ScaleKD.Tests.Shared;

namespace ScaleKD.Cli.Tests;

/// <summary>The main job's first duty: load TorchSharp and say which backend it uses.</summary>
public class BackendReportTests
{
    [Fact]
    public void ReportsTheCpuBackendAndAComputationOnIt()
    {
        var result = ChildProcess.Run("scalekd", null);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Contains("libtorch 2.10", result.StandardOutput);
        Assert.Contains("Backend: CPU", result.StandardOutput);
        Assert.Contains("finite result: True", result.StandardOutput);
    }

    [Fact]
    public void AskingForCudaOnACpuMachineIsOneReadableErrorLine()
    {
        var result = ChildProcess.Run("scalekd", null, "--cuda");
        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: CUDA is not available", line);

        var fallback = ChildProcess.Run("scalekd", null, "--cuda", "--fallback-to-cpu");
        Assert.True(fallback.ExitCode == 0, fallback.StandardError);
        Assert.Contains("falling back", fallback.StandardOutput);
    }
}
