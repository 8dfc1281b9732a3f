using System.Diagnostics;
using ScaleKD.Tests.Shared;
using ScaleKD.Torch.Jobs;
using ScaleKD.Torch.Models;

namespace ScaleKD.Torch.Tests.Jobs;

[Trait("Category", "TorchJob")]
public sealed class PythonRunnerTests
{
    /// <summary>export-job refuses a model by the C# lists; the package builds by its own. They must name the same
    /// models, each one ScaleKD.Torch registers, and the ones built from an ONNX file must be ONNX imports here; timm
    /// must have a build for each of the package's.</summary>
    [TorchJobFact]
    public void TheExportsListsOfModelsAreThePackagesAndEachIsRegistered()
    {
        var start = new ProcessStartInfo(TorchJob.Python!, ["-c",
            "import sys; sys.path.insert(0, sys.argv[1]); from scalekd import models; print(' '.join(models.NAMES)); print(' '.join(models.ONNX_NAMES)); print(' '.join(models.timm_models.BUILDS))",
            PythonRunner.ShippedDirectory]) { RedirectStandardOutput = true, RedirectStandardError = true };
        var result = ChildProcess.Run(start, "scalekd.models.NAMES", TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 0, result.StandardError);
        var lines = result.StandardOutput.Split('\n');
        Assert.Equal(PythonRunner.Models.Order(), lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Order());
        Assert.Equal(PythonRunner.OnnxModels.Order(), lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Order());
        // Where timm imports, the job builds each of the package's models from timm instead (timm_models.BUILDS).
        Assert.Equal(PythonRunner.Models.Order(), lines[2].Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Order());
        Assert.Subset(ModelRegistry.Names.ToHashSet(), PythonRunner.Models.Union(PythonRunner.OnnxModels).ToHashSet());
        Assert.Empty(PythonRunner.Models.Intersect(PythonRunner.OnnxModels));
        foreach (var name in PythonRunner.OnnxModels)
        {
            using var model = ModelRegistry.Create(name, new ModelOptions(10, 64));
            Assert.IsType<OnnxCnn>(model);
        }
    }
}
