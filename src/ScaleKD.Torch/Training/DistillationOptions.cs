using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Optimization;

namespace ScaleKD.Torch.Training;

/// <summary>
/// Settings of a <see cref="DistillationTrainer"/> run. Null means "the official recipe for the student family"
/// (SCALEKD_SPEC.md §4), scaled to this run's batch size and length.
/// </summary>
public sealed record DistillationOptions
{
    /// <summary>The method; all of them run through the same loop, so comparisons are fair.</summary>
    public DistillationMethod Method { get; init; } = DistillationMethod.ScaleKD;

    /// <summary>ScaleKD's loss settings; its KD weight, temperature and label smoothing apply to the baselines too.</summary>
    public ScaleKDLossOptions ScaleKD { get; init; } = new();

    /// <summary>Passes over the training data.</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>Images per optimisation step.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Seeds the data order, augmentation, dropout and stochastic depth (per epoch), so runs repeat and
    /// resume exactly on the CPU.</summary>
    public int Seed { get; init; }

    /// <summary>Optimizer; null: <see cref="OptimizerRecipe.OfficialFor"/> (AdamW for ViT/Swin/ConvNeXt/Mixer, LAMB for
    /// ResNet/MobileNetV1) with the learning rate scaled to <see cref="BatchSize"/>.</summary>
    public OptimizerRecipe? Optimizer { get; init; }

    /// <summary>Warm-up length in epochs; null: the official share (20 of 300 epochs for AdamW recipes, 5 of 300 for
    /// LAMB) of this run's epochs. The learning rate then follows a cosine to its minimum.</summary>
    public double? WarmupEpochs { get; init; }

    /// <summary>Global gradient-norm clip; null turns clipping off. Default 5, as every advanced recipe.</summary>
    public double? GradientClipNorm { get; init; } = 5.0;

    /// <summary>Keep an exponential moving average of the student and evaluate and return it. Null: on for ViT, Swin and
    /// ConvNeXt students (the official advanced recipe), with timm's decay warm-up so that short runs benefit too.</summary>
    public ModelEmaOptions? Ema { get; init; }

    /// <summary>Switches the EMA off even where the recipe has one.</summary>
    public bool DisableEma { get; init; }

    /// <summary>Training augmentation; null: the official one (random-resized crop, flip, RandAugment m9, erasing 0.25)
    /// at the student's image size. Evaluation always resizes and normalises with the same mean and std.</summary>
    public AugmentationOptions? Augmentation { get; init; }

    /// <summary>Stop after this many epochs without validation improvement; null never stops early.</summary>
    public int? EarlyStoppingPatience { get; init; }

    /// <summary>The validation metric for the best epoch and early stopping.</summary>
    public MonitoredMetric Monitor { get; init; } = MonitoredMetric.Top1;

    /// <summary>Return the weights of the best validation epoch (when there is validation data) instead of the last.</summary>
    public bool RestoreBestWeights { get; init; } = true;

    /// <summary>Where to write a checkpoint after every epoch (<c>last.ckpt</c>); null writes none.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Continue from <c>last.ckpt</c> in <see cref="CheckpointDirectory"/> when it exists.</summary>
    public bool Resume { get; init; } = true;

    /// <summary>Report progress (and read the losses back from the device) every this many steps.</summary>
    public int LogEverySteps { get; init; } = 20;

    /// <summary>Batches decoded and augmented ahead of the current step, on a background thread.</summary>
    public int PrefetchDepth { get; init; } = 2;

    /// <summary>On CUDA, run the frozen teacher in bfloat16 (its forward and the TPP proxy pass).</summary>
    public bool TeacherBFloat16OnCuda { get; init; } = true;

    /// <summary>CPU or CUDA, and which libtorch; see <see cref="TorchBackend"/>.</summary>
    public TorchBackendOptions Backend { get; init; } = new();

    /// <summary>Fails on settings that cannot work, naming the setting.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Epochs, 1, nameof(Epochs));
        ArgumentOutOfRangeException.ThrowIfLessThan(BatchSize, 1, nameof(BatchSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(LogEverySteps, 1, nameof(LogEverySteps));
        ArgumentOutOfRangeException.ThrowIfLessThan(PrefetchDepth, 1, nameof(PrefetchDepth));
        if (WarmupEpochs is < 0)
            throw new ArgumentOutOfRangeException(nameof(WarmupEpochs), WarmupEpochs, "Warm-up cannot be negative.");
        if (GradientClipNorm is <= 0)
            throw new ArgumentOutOfRangeException(nameof(GradientClipNorm), GradientClipNorm, "Use null to switch clipping off.");
        if (EarlyStoppingPatience is < 1)
            throw new ArgumentOutOfRangeException(nameof(EarlyStoppingPatience), EarlyStoppingPatience, "Patience must be at least 1 epoch.");
    }
}
