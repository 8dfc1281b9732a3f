using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Data;
using ScaleKD.Torch.Weights;

namespace ScaleKD.TestHost;

/// <summary>
/// A short, seeded distillation run on Fashion-MNIST for the kill-and-resume test: prints "epoch N done" after each
/// epoch's checkpoint and writes the final student weights as safetensors.
/// </summary>
static class TrainCommand
{
    /// <param name="trainCount">Training images (a stratified Fashion-MNIST subset).</param>
    public static int Run(string checkpointDirectory, string weightsPath, int epochs, int trainCount = 96)
    {
        TorchSharp.torch.set_num_threads(1); // the same arithmetic order in every process
        var options = new ModelOptions(NumClasses: 10, ImageSize: 64);
        TorchSharp.torch.manual_seed(1);
        var teacher = ModelRegistry.Create("swin_pico_patch2_window4_32", options);
        var student = ModelRegistry.Create("resnet_pico", options);
        var train = FashionMnist.Train().TakeStratified(trainCount, seed: 3);
        var trainer = new DistillationTrainer(new DistillationSpec
        {
            Method = DistillationMethod.ScaleKD,
            Epochs = epochs,
            BatchSize = 16,
            Seed = 5,
            CheckpointDirectory = checkpointDirectory,
            Augmentation = new AugmentationOptions { ImageSize = 64 },
            LogEverySteps = 2,
        });
        var progress = new SynchronousProgress(p =>
        {
            if (p.Finished is { } epoch)
                Console.WriteLine($"epoch {epoch.Epoch} done loss {epoch.TrainLoss:R}");
        });
        var result = trainer.Fit(student, teacher, train, validation: null, progress);
        SafetensorsWeights.Save(result.Student, weightsPath);
        Console.WriteLine($"finished resumed-from {result.ResumedFromEpoch}");
        return 0;
    }

    /// <summary>IProgress that reports on the caller's thread, so lines are printed in order.</summary>
    sealed class SynchronousProgress(Action<DistillationProgress> report) : IProgress<DistillationProgress>
    {
        public void Report(DistillationProgress value) => report(value);
    }
}
