using System.Diagnostics;
using System.Text.Json;
using ScaleKD.Tests.Shared;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Jobs;
using ScaleKD.Torch.Tests.Training;
using ScaleKD.Torch.Weights;
using Xunit.Abstractions;

namespace ScaleKD.Torch.Tests.Jobs;

/// <summary>
/// The job builds its models from timm where timm imports (python/scalekd/models/timm_models.py: timm's modules run
/// through the package's stage methods), else from the package's own definitions. Where timm is missing (Debian, so
/// CI) the job says so and refuses <c>--models timm</c>; where it is present, timm's modules compute what the
/// package's do and the job trains the same with either.
/// </summary>
[Trait("Category", "TorchJob")]
[Collection(SerialTrainingCollection.Name)] // creating the job's models reseeds torch's global generator
public sealed class TimmModelsTests(ITestOutputHelper output)
{
    [TorchJobFact]
    public void AJobSaysWhereItsModelsCameFromAndRefusesTimmWhereTimmCannotBeImported()
    {
        using var job = new TinyJob("mixer_pico_patch4_32", 32, batch: 16, images: 32, stem: ProjectorStem.LayerNorm);
        var run = TorchJob.Run(job.Folder, 1, "--max-steps", "1", "--output", job.File("auto"));
        var expected = TorchJob.TimmVersion is { } version
            ? $"student: mixer_pico_patch4_32 from timm {version}"
            : "student: mixer_pico_patch4_32 from this package's definition (timm cannot be imported";
        Assert.Contains(expected, run.StandardOutput);
        Assert.Contains("teacher: vit_pico_patch4_32 from ", run.StandardOutput);
        using (var metrics = JsonDocument.Parse(File.ReadAllText(Path.Combine(job.File("auto"), "metrics.json"))))
            Assert.StartsWith("mixer_pico_patch4_32 from ", metrics.RootElement.GetProperty("models").GetProperty("student").GetString());

        var package = TorchJob.Run(job.Folder, 1, "--max-steps", "1", "--models", "package", "--output", job.File("package"));
        Assert.Contains("student: mixer_pico_patch4_32 from this package's definition (asked for with --models package)", package.StandardOutput);
        if (TorchJob.TimmVersion is null)
        {
            var refused = TorchJob.Start(job.Folder, 1, "--models", "timm", "--output", job.File("timm"));
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Contains("error: --models timm: timm cannot be imported here (ModuleNotFoundError: No module named 'timm')", refused.StandardError);
            Assert.False(File.Exists(Path.Combine(job.File("timm"), JobExport.StudentFile)));
        }
    }

    /// <summary>Every model name's state dict has the same keys and shapes in timm as in the package, and the models
    /// small enough to run here give the same stage maps, pre-logits, logits and TPP stage 4 on the same float64
    /// weights in eval and train mode, to 1e-9 of each output's scale (the bar is derived in the script).</summary>
    [TimmFact]
    public void TimmsOwnModulesComputeWhatThePackagesDefinitionsCompute()
    {
        var report = Path.Combine(Directory.CreateTempSubdirectory("scalekd-timm-").FullName, "agreement.json");
        var start = new ProcessStartInfo(TorchJob.Python!, [Path.Combine(AppContext.BaseDirectory, "reference", "timm_agreement.py"),
            "--package", PythonRunner.ShippedDirectory, "--json", report]) { RedirectStandardOutput = true, RedirectStandardError = true };
        var result = ChildProcess.Run(start, "timm_agreement.py", TimeSpan.FromMinutes(5));
        output.WriteLine(result.StandardOutput);
        Assert.True(result.ExitCode == 0, $"{result.StandardOutput}\n{result.StandardError}");
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        Assert.Equal(PythonRunner.Models.Count, json.RootElement.GetProperty("layout").GetArrayLength());
        var runs = json.RootElement.GetProperty("runs").EnumerateObject().ToList();
        Assert.True(runs.Count >= 14, $"only {runs.Count} models ran");
        foreach (var run in runs)
            foreach (var value in run.Value.EnumerateObject())
                Assert.True(value.Value.GetDouble() <= 1e-9, $"{run.Name} {value.Name}: {value.Value.GetDouble():G3}");
        Directory.Delete(Path.GetDirectoryName(report)!, recursive: true);
    }

    /// <summary>Two float64 steps of the same job with timm's modules and with the package's end on the same weights.
    /// Both compute the same operations on the same values, differing at most in the order of sums (about 1e-16
    /// relative per operation, far under 1e-9 after two steps); student.safetensors holds float32, where a value that
    /// close to a rounding boundary may still land on the neighbouring float: the bar is one float32 step (2^-23) of
    /// each tensor's largest entry. A real difference (a missing activation, a misplaced norm) moves weights by
    /// about the learning rate, 5e-3.</summary>
    [TimmFact]
    public void AJobTrainsTheSameWithTimmsModulesAsWithThePackages()
    {
        using var job = new TinyJob("mixer_pico_patch4_32", 32, batch: 16, images: 32, stem: ProjectorStem.LayerNorm);
        var timm = TorchJob.Run(job.Folder, 1, "--float64", "--max-steps", "2", "--models", "timm", "--output", job.File("timm"));
        Assert.Contains($"student: mixer_pico_patch4_32 from timm {TorchJob.TimmVersion}", timm.StandardOutput);
        Assert.Contains($"teacher: vit_pico_patch4_32 from timm {TorchJob.TimmVersion}", timm.StandardOutput);
        TorchJob.Run(job.Folder, 1, "--float64", "--max-steps", "2", "--models", "package", "--output", job.File("package"));
        using var initial = SafetensorsWeights.Read(job.File(JobExport.StudentInitFile));
        using var fromTimm = SafetensorsWeights.Read(Path.Combine(job.File("timm"), JobExport.StudentFile));
        using var fromPackage = SafetensorsWeights.Read(Path.Combine(job.File("package"), JobExport.StudentFile));
        Assert.Equal(fromPackage.Keys.Order(), fromTimm.Keys.Order());
        Assert.Contains(fromPackage.Keys, k => (fromPackage[k] - initial[k]).abs().max().item<float>() > 0);
        foreach (var key in fromPackage.Keys)
        {
            var difference = (fromPackage[key] - fromTimm[key]).abs().max().item<float>();
            var scale = fromPackage[key].abs().max().item<float>();
            Assert.True(difference <= Math.Pow(2, -23) * scale, $"{key}: timm's modules differ from the package's by {difference:G3} (largest entry {scale:G3})");
        }
    }
}
