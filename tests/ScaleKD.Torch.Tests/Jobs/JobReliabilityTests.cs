using System.Text.Json;
using ScaleKD.Tests.Shared;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Jobs;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Tests.Training;
using ScaleKD.Torch.Training.Data;
using ScaleKD.Torch.Weights;

namespace ScaleKD.Torch.Tests.Jobs;

/// <summary>A job folder that changed or broke under a run: train.py names the file at fault and what to do, with
/// no traceback, and never trains one job from another job's checkpoint; a partly trained student says so.</summary>
[Trait("Category", "TorchJob")]
[Collection(SerialTrainingCollection.Name)] // creating the job's models reseeds torch's global generator
public sealed class JobReliabilityTests
{
    [TorchJobFact]
    public void AChangedOrDamagedJobFolderIsNamedAndAPartlyTrainedStudentSaysSo()
    {
        using var job = new TinyJob("mixer_pico_patch4_32", 32, batch: 16, images: 32, stem: ProjectorStem.LayerNorm, epochs: 2);
        TorchJob.Run(job.Folder, 1, "--max-steps", "1");
        using (var metrics = JsonDocument.Parse(File.ReadAllText(job.File(TrainedStudent.MetricsFile))))
        {
            Assert.False(metrics.RootElement.GetProperty("complete").GetBoolean());
            Assert.Equal("it stopped 1 step into epoch 1 of 2", metrics.RootElement.GetProperty("stopped").GetString());
        }
        using (var partly = TrainedStudent.Load(job.Folder))
            Assert.Equal("it stopped 1 step into epoch 1 of 2", partly.StoppedEarly);

        TorchJob.Run(job.Folder, 1, "--epochs", "1");
        var checkpoint = job.File(Path.Combine("checkpoints", "last.pt"));
        Assert.True(File.Exists(checkpoint));
        using (var partly = TrainedStudent.Load(job.Folder))
            Assert.Equal("it stopped after epoch 1 of 2", partly.StoppedEarly);

        // The same folder, exported again with other settings: its checkpoint is another job's.
        var settings = File.ReadAllText(job.File(JobSettings.FileName));
        File.WriteAllText(job.File(JobSettings.FileName), settings.Replace("\"seed\": 3", "\"seed\": 4", StringComparison.Ordinal));
        Assert.NotEqual(settings, File.ReadAllText(job.File(JobSettings.FileName)));
        AssertRefused(job, $"{checkpoint} was written for another job.json (the job was exported again since); run with --no-resume");
        File.WriteAllText(job.File(JobSettings.FileName), settings);

        // A checkpoint cut short (a full disk, an interrupted copy).
        var bytes = File.ReadAllBytes(checkpoint);
        File.WriteAllBytes(checkpoint, bytes[..(bytes.Length / 2)]);
        AssertRefused(job, $"{checkpoint} cannot be read");
        AssertRefused(job, "run with --no-resume to start over");
        File.WriteAllBytes(checkpoint, bytes);

        // Weights cut short.
        var initial = job.File(JobExport.StudentInitFile);
        var weights = File.ReadAllBytes(initial);
        File.WriteAllBytes(initial, weights[..(weights.Length - 100)]);
        AssertRefused(job, $"{initial} is not a complete safetensors file");
        File.WriteAllBytes(initial, weights);

        // job.json that parses but lacks a key, or holds a wrong type.
        File.WriteAllText(job.File(JobSettings.FileName), settings.Replace("\"batch_size\": 16", "\"batch_size\": \"abc\"", StringComparison.Ordinal));
        AssertRefused(job, "'batch_size' is 'abc', not a positive whole number");
        using (var document = JsonDocument.Parse(settings))
        {
            var withoutSchedule = document.RootElement.EnumerateObject().Where(p => p.Name != "schedule").ToDictionary(p => p.Name, p => p.Value);
            File.WriteAllText(job.File(JobSettings.FileName), JsonSerializer.Serialize(withoutSchedule));
        }
        AssertRefused(job, "lacks 'schedule'; export the job again");
        File.WriteAllText(job.File(JobSettings.FileName), settings);

        // Restored, it resumes and finishes.
        var finished = TorchJob.Run(job.Folder, 1);
        Assert.Contains("resuming after epoch 1 (step 2)", finished.StandardOutput);
        using (var done = TrainedStudent.Load(job.Folder))
            Assert.Null(done.StoppedEarly);
    }

    /// <summary>A student from pretrained weights (--student-weights) starts the job from them, as distill's does.</summary>
    [TorchJobFact]
    public void TheJobsStudentStartsFromItsPretrainedWeights()
    {
        var folder = Directory.CreateTempSubdirectory("scalekd-student-weights-").FullName;
        try
        {
            var weights = Path.Combine(folder, "pretrained.safetensors");
            using (var pretrained = ModelRegistry.Create("mixer_pico_patch4_32", new ModelOptions(FashionMnist.ClassNames.Count, 32), seed: 99))
                SafetensorsWeights.Save(pretrained, weights);
            using var job = new TinyJob("mixer_pico_patch4_32", 32, batch: 16, images: 32, stem: ProjectorStem.LayerNorm, studentWeights: weights);
            using var expected = SafetensorsWeights.Read(weights);
            using var initial = SafetensorsWeights.Read(job.File(JobExport.StudentInitFile));
            Assert.Equal(expected.Keys.Order(), initial.Keys.Order());
            foreach (var key in expected.Keys)
                Assert.True(expected[key].eq(initial[key]).all().item<bool>(), $"{key} is not the pretrained value");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    static void AssertRefused(TinyJob job, string expected)
    {
        var result = TorchJob.Start(job.Folder, 1);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains($"error: ", result.StandardError);
        Assert.Contains(expected, result.StandardError);
        // torchrun reports a failed process with a traceback of its own; the job's code must not show one.
        Assert.DoesNotContain($"File \"{job.Folder}", result.StandardError);
    }
}
