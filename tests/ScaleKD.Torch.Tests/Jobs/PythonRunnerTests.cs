using System.Diagnostics;
using ScaleKD.Tests.Shared;
using ScaleKD.Torch.Jobs;
using ScaleKD.Torch.Models;

namespace ScaleKD.Torch.Tests.Jobs;

[Trait("Category", "TorchJob")]
public sealed class PythonRunnerTests
{
    /// <summary>export-job refuses a model by the C# list; the package builds by its own. They must name the same
    /// models, each one ScaleKD.Torch registers.</summary>
    [TorchJobFact]
    public void TheExportsListOfModelsIsThePackagesAndEachIsRegistered()
    {
        var start = new ProcessStartInfo(TorchJob.Python!, ["-c", "import sys; sys.path.insert(0, sys.argv[1]); from scalekd import models; print(' '.join(models.NAMES))",
            PythonRunner.ShippedDirectory]) { RedirectStandardOutput = true, RedirectStandardError = true };
        var result = ChildProcess.Run(start, "scalekd.models.NAMES", TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Equal(PythonRunner.Models.Order(), result.StandardOutput.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Order());
        Assert.Subset(ModelRegistry.Names.ToHashSet(), PythonRunner.Models.ToHashSet());
    }
}
