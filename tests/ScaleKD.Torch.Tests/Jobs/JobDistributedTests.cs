using ScaleKD.Tests.Shared;
using ScaleKD.Torch.Tests.Training;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Jobs;
using ScaleKD.Torch.Weights;

namespace ScaleKD.Torch.Tests.Jobs;

/// <summary>DDP's contract as the job uses it: the global batch split over processes (DistributedSampler) with the
/// gradients averaged takes the steps one process takes with the whole batch; and a job stopped after an epoch and
/// started again resumes from its checkpoint where it stopped.</summary>
[Trait("Category", "TorchJob")]
[Collection(SerialTrainingCollection.Name)] // creating the job's models reseeds torch's global generator
public sealed class JobDistributedTests
{
    /// <summary>A model without BatchNorm (a Mixer student and a ViT teacher; the projector stems on LayerNorm), since
    /// BatchNorm's statistics are per process; augmentation off; float64, so that the only difference left is the order
    /// of the gradient sums (about 1e-16 relative), far under 1e-5. Two epochs of two steps: the single process runs
    /// them as two invocations, the second resuming from the first one's checkpoint (weights, AdamW's moments, the
    /// schedule's step), so a resume that lost any of them would part the two runs as well.</summary>
    [TorchJobFact]
    public void TwoProcessesOfBatchBTakeTheStepsOfOneProcessOfBatch2BAndAResumeContinuesExactly()
    {
        using var job = new TinyJob("mixer_pico_patch4_32", 32, batch: 16, images: 32, stem: ProjectorStem.LayerNorm, epochs: 2);
        TorchJob.Run(job.Folder, 1, "--float64", "--epochs", "1", "--output", job.File("one"));
        var resumed = TorchJob.Run(job.Folder, 1, "--float64", "--output", job.File("one"));
        Assert.Contains("resuming after epoch 1 (step 2)", resumed.StandardOutput);
        var two = TorchJob.Run(job.Folder, 2, "--float64", "--output", job.File("two"));
        Assert.Contains("epoch 2/2", two.StandardOutput);
        Assert.Contains("on 2 processes", two.StandardOutput);

        using var initial = SafetensorsWeights.Read(job.File(JobExport.StudentInitFile));
        using var single = SafetensorsWeights.Read(Path.Combine(job.File("one"), JobExport.StudentFile));
        using var split = SafetensorsWeights.Read(Path.Combine(job.File("two"), JobExport.StudentFile));
        Assert.Equal(single.Keys.Order(), split.Keys.Order());
        // Nearly every tensor moves in two steps (a few biases have no gradient at all: the last token-MLP bias is
        // cancelled by the final LayerNorm), so the comparison is of trained weights, not of the initial ones.
        var moved = single.Keys.Count(k => (single[k] - initial[k]).abs().max().item<float>() > 0);
        Assert.True(moved >= single.Count * 9 / 10, $"only {moved} of {single.Count} tensors moved in two steps");
        foreach (var key in single.Keys)
        {
            var difference = (single[key] - split[key]).abs().max().item<float>();
            var scale = single[key].abs().max().item<float>();
            Assert.True(difference <= 1e-5 * scale, $"{key}: two processes differ from one by {difference:G3} (largest entry {scale:G3})");
        }
    }
}
