using ScaleKD.Torch.Distillation;

namespace ScaleKD.Cli;

/// <summary>Everything <c>scalekd distill</c> (and each run of <c>compare</c>) is given.</summary>
public sealed record DistillSettings
{
    /// <summary>Data: Fashion-MNIST IDX folder (default), image folder, or TSV.</summary>
    public string? Data { get; init; }
    /// <summary>Teacher timm name.</summary>
    public string Teacher { get; init; } = "vit_pico_patch4_32";
    /// <summary>timm/HF safetensors for the teacher; null trains it (and caches it).</summary>
    public string? TeacherWeights { get; init; }
    /// <summary>Epochs of from-scratch teacher training.</summary>
    public int TeacherEpochs { get; init; } = 4;
    /// <summary>Student timm name.</summary>
    public string Student { get; init; } = "resnet_pico";
    /// <summary>Distillation method.</summary>
    public DistillationMethod Method { get; init; } = DistillationMethod.ScaleKD;
    /// <summary>Student epochs.</summary>
    public int Epochs { get; init; } = 6;
    /// <summary>Images per step.</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>Square image size.</summary>
    public int ImageSize { get; init; } = 64;
    /// <summary>Peak learning rate; null uses the official recipe scaled to the batch.</summary>
    public double? LearningRate { get; init; }
    /// <summary>Peak learning rate of a from-scratch teacher; null: as the student's.</summary>
    public double? TeacherLearningRate { get; init; }
    /// <summary>Class-balanced training subset for the student (the teacher sees all training data).</summary>
    public int? TrainLimit { get; init; }
    /// <summary>Class-balanced subset of training images for a from-scratch teacher; null: all of them.</summary>
    public int? TeacherTrainLimit { get; init; }
    /// <summary>At most this many held-out images are checked after every epoch (the final accuracy uses all of them).</summary>
    public int? ValidationLimit { get; init; }
    /// <summary>Check the validation images after every epoch (curves in the report, and the best epoch is kept);
    /// without it the last epoch is kept.</summary>
    public bool ValidateEachEpoch { get; init; } = true;
    /// <summary>Seed of the training run: initialisation, data order, augmentation. The data subsets do not depend on it.</summary>
    public int Seed { get; init; }
    /// <summary>cpu or cuda.</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>Checkpoint folder (resumable); null writes none.</summary>
    public string? CheckpointDirectory { get; init; }
    /// <summary>Training augmentation: official (random-resized crop, flip, RandAugment m9, erasing), light (crop from
    /// 35 % of the area, and flip: cheap on a CPU), or none.</summary>
    public string Augment { get; init; } = "official";
    /// <summary>Also train the student without distillation, for comparison in the report.</summary>
    public bool Baseline { get; init; }
    /// <summary>Where the zip, report and plots go.</summary>
    public string Output { get; init; } = "scalekd-output";

    /// <summary>The default with no arguments: Fashion-MNIST, a Swin teacher trained for 3 epochs on all 60,000 images
    /// (cached), an MLP-Mixer student that sees 500 of them; about nine minutes on two CPU cores the first time.</summary>
    public static DistillSettings Quick { get; } = new()
    {
        Teacher = "swin_pico_patch2_window4_32",
        TeacherEpochs = 3,
        Student = "mixer_pico_patch4_32",
        Method = DistillationMethod.ScaleKD,
        Epochs = 30,
        BatchSize = 64,
        ImageSize = 64,
        LearningRate = 5e-3,
        TeacherLearningRate = 2e-3,
        TrainLimit = 500,
        Augment = "light",
        ValidationLimit = 2000,
        Baseline = true,
    };
}
