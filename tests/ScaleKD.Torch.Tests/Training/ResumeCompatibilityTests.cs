using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Data;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>A checkpoint an earlier build wrote either resumes or is refused with a message that names its version
/// (the committed files are described in Training/Checkpoints/README.md).</summary>
[Trait("Category", "Training")]
[Collection(SerialTrainingCollection.Name)]
public sealed class ResumeCompatibilityTests : TensorScopeTest
{
    readonly string _work = Directory.CreateTempSubdirectory("scalekd-resume-").FullName;

    /// <summary>The run that wrote format1-mobilenetv1_pico-none-epoch1of2.ckpt.</summary>
    static readonly DistillationSpec FormatOneRun = new()
    {
        Method = DistillationMethod.None,
        Epochs = 2,
        BatchSize = 32,
        Seed = 7,
        Augmentation = AugmentationOptions.Disabled(32),
        LogEverySteps = 1,
    };

    string Copy(string fixture, Action<byte[]>? change = null)
    {
        var bytes = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "checkpoints", fixture));
        change?.Invoke(bytes);
        var directory = Directory.CreateDirectory(Path.Combine(_work, Path.GetFileNameWithoutExtension(fixture) + (change is null ? "" : "-changed"))).FullName;
        File.WriteAllBytes(Path.Combine(directory, TrainingCheckpoint.FileName), bytes);
        return directory;
    }

    [Fact]
    public void AFormatOneCheckpointFromBeforeTheTrainerWasSplitResumesAtItsSecondEpoch()
    {
        var directory = Copy("format1-mobilenetv1_pico-none-epoch1of2.ckpt");
        var student = ModelRegistry.Create("mobilenetv1_pico", new ModelOptions(NumClasses: 10, ImageSize: 32));
        var result = new DistillationTrainer(FormatOneRun with { CheckpointDirectory = directory })
            .Fit(student, null, FashionMnist.Train().TakeStratified(64, seed: 3));

        Assert.Equal(1, result.ResumedFromEpoch);
        Assert.Equal(StopReason.Completed, result.StopReason);
        Assert.Equal([1, 2], result.History.Select(h => h.Epoch));
        Assert.True(double.IsFinite(result.History[1].TrainLoss));
        var (state, _) = CheckpointFile.Load<TrainingCheckpoint>(Path.Combine(directory, TrainingCheckpoint.FileName));
        Assert.Equal(2, state.CompletedEpochs);
    }

    [Fact]
    public void ACheckpointOfAnotherFormatVersionIsRefusedByVersion()
    {
        // The eighth byte is the format version: "SKDCKPT1" → "SKDCKPT2".
        var directory = Copy("format1-mobilenetv1_pico-none-epoch1of2.ckpt", bytes => bytes[7] = (byte)'2');
        var student = ModelRegistry.Create("mobilenetv1_pico", new ModelOptions(NumClasses: 10, ImageSize: 32));
        var error = Assert.Throws<InvalidDataException>(() => new DistillationTrainer(FormatOneRun with { CheckpointDirectory = directory })
            .Fit(student, null, FashionMnist.Train().TakeStratified(64, seed: 3)));
        Assert.Contains("format version 2", error.Message);
        Assert.Contains($"reads version {CheckpointFile.FormatVersion}", error.Message);
    }

    public override void Dispose()
    {
        Directory.Delete(_work, recursive: true);
        base.Dispose();
    }
}
