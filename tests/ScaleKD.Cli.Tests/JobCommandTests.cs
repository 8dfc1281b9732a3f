using System.Globalization;
using System.Text.RegularExpressions;
using ScaleKD.Tests.Shared;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training.Data;

namespace ScaleKD.Cli.Tests;

/// <summary>The scaling-out path as a user runs it: export-job, the job on two gloo processes under torchrun,
/// import-student, then evaluate and predict on the zip, each in its own process.</summary>
[Trait("Category", "TorchJob")]
[Collection(ToolProcessCollection.Name)]
public sealed class JobCommandTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("scalekd-job-cli-").FullName;

    /// <summary>A ScaleKD run on 1,024 Fashion-MNIST images (a ViT teacher trained for one epoch, a Mixer student for
    /// two) scores well above chance on 512 test images. Chance is 10 %, and a chance-level model's accuracy on 512
    /// images has a standard deviation of 1.3 points, so 16 % is more than four of them above; the run reaches about 24 %.</summary>
    [TorchJobFact]
    public void AnExportedJobRunOnTwoProcessesComesBackAsAZipThatScoresAboveChance()
    {
        var job = Path.Combine(_root, "job");
        var export = Scalekd("export-job", "--preset", "none", "--teacher", "vit_pico_patch4_32", "--teacher-epochs", "1", "--teacher-train-limit", "1024",
            "--student", "mixer_pico_patch4_32", "--epochs", "2", "--batch", "32", "--image-size", "32", "--train-limit", "1024",
            "--validation-limit", "256", "--augment", "none", "--lr", "5e-3", "--output", job);
        Assert.True(export.ExitCode == 0, export.StandardError + export.StandardOutput);
        foreach (var file in new[] { "job.json", "train.py", "scalekd/job.py", "teacher.safetensors", "student_init.safetensors", "objective_init.safetensors" })
            Assert.True(File.Exists(Path.Combine(job, file)), $"{file} is missing from the job");

        var run = TorchJob.Run(job, 2);
        Assert.Contains("epoch 2/2", run.StandardOutput);
        Assert.Contains("\"processes\": 2", File.ReadAllText(Path.Combine(job, "metrics.json")));

        var zip = Path.Combine(_root, "model.zip");
        var import = Scalekd("import-student", "--job", job, "--output", zip);
        Assert.True(import.ExitCode == 0, import.StandardError + import.StandardOutput);
        var evaluate = Scalekd("evaluate", "--model", zip, "--limit", "512");
        Assert.True(evaluate.ExitCode == 0, evaluate.StandardError + evaluate.StandardOutput);
        var top1 = double.Parse(Regex.Match(evaluate.StandardOutput, @"top-1 accuracy (\d+\.\d+) %").Groups[1].Value, CultureInfo.InvariantCulture);
        Assert.True(top1 > 16, $"top-1 {top1} % on 512 images");

        var image = Path.Combine(_root, "trouser.png");
        File.WriteAllBytes(image, FirstTestImage(label: 1));
        var predict = Scalekd("predict", "--model", zip, "--top", "2", image);
        Assert.True(predict.ExitCode == 0, predict.StandardError);
        Assert.Matches(@"trouser\.png: \S.* \d+\.\d %, \S.* \d+\.\d %", predict.StandardOutput);
    }

    [Fact]
    public void ImportStudentNamesTheMissingFileOfAnUnfinishedJob()
    {
        var result = Scalekd("import-student", "--job", Path.Combine(_root, "nothing-here"));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("job.json", result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);
    }

    [Fact]
    public void ExportJobRefusesWhatTheJobCannotRunNamingIt()
    {
        // A student imported from ONNX: the package defines no such model (the job runs every method and recipe).
        var result = Scalekd("export-job", "--preset", "none", "--student", "resnet18_imagenet_mlnet",
            "--output", Path.Combine(_root, "refused"));
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: The PyTorch job cannot build the student 'resnet18_imagenet_mlnet'", result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);
        Assert.False(Directory.Exists(Path.Combine(_root, "refused")), "a refused export must leave no job folder");
    }

    /// <summary>A folder that already holds a job (or anything) is refused before any work: its checkpoint and
    /// student would be taken for the new job's.</summary>
    [Fact]
    public void ExportJobRefusesAFolderThatIsNotEmpty()
    {
        var used = Directory.CreateDirectory(Path.Combine(_root, "used")).FullName;
        File.WriteAllText(Path.Combine(used, "student.safetensors"), "an earlier job's student");
        var result = Scalekd("export-job", "--preset", "none", "--student", "mixer_pico_patch4_32", "--output", used);
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith($"error: '{used}' is not empty; write the job to a new folder", result.StandardError);
        Assert.Equal(["student.safetensors"], Directory.EnumerateFileSystemEntries(used).Select(Path.GetFileName));
    }

    [Fact]
    public void ExportJobThatCannotPrepareItsTeacherLeavesNoJobFolder()
    {
        var images = Path.Combine(_root, "images");
        foreach (var label in new[] { "a", "b" })
        {
            Directory.CreateDirectory(Path.Combine(images, label));
            for (var i = 0; i < 4; i++)
                File.WriteAllBytes(Path.Combine(images, label, $"{i}.png"), DataSets.EncodeGrayPng(Enumerable.Repeat((byte)(60 * i), 28 * 28).ToArray(), 28, 28));
        }
        var job = Path.Combine(_root, "never");
        var result = Scalekd("export-job", "--data", images, "--student", "mixer_pico_patch4_32", "--batch", "4", "--output", job);
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: Preparing this teacher needs training images that the job export can read", result.StandardError);
        Assert.False(Directory.Exists(job), "a refused export must leave no job folder");
    }

    static byte[] FirstTestImage(int label)
    {
        TorchBackend.Initialize();
        var test = FashionMnist.Test();
        var index = test.Labels.ToList().IndexOf(label);
        foreach (var batch in test.Take(index + 1).ReadBatches(new BatchRequest(0, index + 1, false, 0, false)))
            using (batch)
            {
                var pixels = batch.Images[index].mul(255).round().to(TorchSharp.torch.ScalarType.Byte).data<byte>().ToArray();
                return DataSets.EncodeGrayPng(pixels, 28, 28);
            }
        throw new InvalidOperationException("Fashion-MNIST's test split is empty.");
    }

    ChildProcess.Result Scalekd(params string[] arguments) =>
        ChildProcess.Run("scalekd", new Dictionary<string, string?> { ["XDG_CACHE_HOME"] = Path.Combine(_root, "cache") }, arguments);

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
