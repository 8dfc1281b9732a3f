using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Optimization;

namespace ScaleKD.Torch.Training;

/// <summary>
/// A distillation job, with the one set of defaults: the teacher and student, the method, image size and run length,
/// the optimisation recipe, augmentation, the objective's settings, validation, checkpoints and the device. The ML.NET
/// trainer's <c>Options</c> and the <c>scalekd</c> tool map onto it; presets such as <see cref="Quick"/> are values of
/// it. Null settings mean "the official recipe for the student family" (docs/method.md, "Training recipe"), scaled to
/// this run's batch size and length.
/// </summary>
public sealed record DistillationSpec
{
    /// <summary>Every setting at its default.</summary>
    public static DistillationSpec Default { get; } = new();

    /// <summary>
    /// The CPU demo (<c>scalekd distill --preset quick</c>): the ImageNet ResNet-18 of ML.NET's package as the teacher
    /// (a linear probe on the labels, at 64 px), distilled with ScaleKD into a small MLP-Mixer for 30 epochs (AdamW
    /// 5e-3), 64 px, crop-and-flip augmentation. The tool adds the data-limited regime (500 student images) on top.
    /// </summary>
    public static DistillationSpec Quick { get; } = new()
    {
        Student = "mixer_pico_patch4_32",
        Method = DistillationMethod.ScaleKD,
        Epochs = 30,
        BatchSize = 64,
        ImageSize = 64,
        Optimizer = OptimizerRecipe.AdamW(5e-3),
        Augmentation = AugmentationOptions.Light(64),
    };

    /// <summary>The student architecture by its timm name, e.g. <c>resnet18</c>, <c>mobilenetv1_100</c>, <c>vit_small_patch16_224</c>.</summary>
    public string Student { get; init; } = "resnet18";

    /// <summary>Pretrained weights the student starts from: a timm / Hugging Face safetensors file with timm parameter
    /// names (<see cref="StudentFactory"/>). A classifier trained for other classes is replaced (and said so); any
    /// other mismatch is an error that names the keys. Null: initial weights from <see cref="Seed"/>.</summary>
    public string? StudentWeightsPath { get; init; }

    /// <summary>The teacher: architecture, weights, and how it is prepared.</summary>
    public TeacherSpec Teacher { get; init; } = new();

    /// <summary>The method; every method runs through the same loop, so comparisons are fair.</summary>
    public DistillationMethod Method { get; init; } = DistillationMethod.ScaleKD;

    /// <summary>The side of the square images teacher and student see.</summary>
    public int ImageSize { get; init; } = 224;

    /// <summary>Passes over the training data.</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>Images per optimisation step.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Seeds the initial weights, the data order, augmentation, dropout and stochastic depth (per epoch), so runs
    /// repeat and resume exactly on the CPU.</summary>
    public int Seed { get; init; }

    /// <summary>Optimizer and learning-rate schedule; null: for a data set of <see cref="SmallDataImages"/> or more,
    /// <see cref="OptimizerRecipe.OfficialFor"/> the student's family (AdamW for ViT/Swin/ConvNeXt/Mixer, LAMB for
    /// ResNet/MobileNetV1) scaled to <see cref="BatchSize"/>; for a smaller one, <see cref="OptimizerRecipe.SmallData"/>
    /// (see <see cref="ForData"/>).</summary>
    public OptimizerRecipe? Optimizer { get; init; }

    /// <summary>Training sets below this many images are small: when no <see cref="Optimizer"/> is chosen they get
    /// <see cref="OptimizerRecipe.SmallData"/>, and at least <see cref="MinimumSteps"/> optimisation steps. At or above
    /// it, the official recipes (the full-scale regime, ImageNet-like data).</summary>
    public int SmallDataImages { get; init; } = 20_000;

    /// <summary>On a small training set without a chosen <see cref="Optimizer"/>, the epochs are raised until the run takes at least this many steps (a run of 10
    /// epochs on 500 images at batch 64 is 70 steps, too few to train anything); the trainer says when it raises
    /// them. 0 keeps <see cref="Epochs"/> as it is.</summary>
    public int MinimumSteps { get; init; } = 600;

    /// <summary>Global gradient-norm clip; null turns clipping off. Default 5, as every advanced recipe.</summary>
    public double? GradientClipNorm { get; init; } = 5.0;

    /// <summary>The exponential moving average of the student, evaluated and returned; null: the recipe's
    /// (<see cref="ModelEmaOptions.Recipe"/> for ViT, Swin and ConvNeXt students, none for the others);
    /// <see cref="ModelEmaOptions.Off"/>: none.</summary>
    public ModelEmaOptions? Ema { get; init; }

    /// <summary>Training augmentation; null: the official one (random-resized crop, flip, RandAugment m9, erasing 0.25)
    /// at the student's image size. Evaluation always resizes and normalises with the same mean and std.</summary>
    public AugmentationOptions? Augmentation { get; init; }

    /// <summary>The objective's settings: the logit terms every method shares, and ScaleKD's feature terms.</summary>
    public ObjectiveOptions Objective { get; init; } = new();

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

    /// <summary>On CUDA, run the student and the objective's projectors in bfloat16 with float32 master weights
    /// (<see cref="Precision.BFloat16Student"/>): manual mixed precision, as TorchSharp has no autocast. On an H200 it
    /// made the Swin-L → ResNet-50 step 1.45× faster (README, Performance). Off by default: float32 is the reference.</summary>
    public bool StudentBFloat16OnCuda { get; init; }

    /// <summary>The bfloat16 student on any device, the CPU included (for tests of its arithmetic; slow on a CPU).</summary>
    internal bool StudentBFloat16Everywhere { get; init; }

    /// <summary>The check, before distilling, that the prepared teacher is clearly better than chance and than the student
    /// alone (<see cref="Teachers.TeacherCheck"/>); by default it warns.</summary>
    public TeacherCheckOptions TeacherCheck { get; init; } = new();

    /// <summary>CPU or CUDA, and which libtorch; see <see cref="TorchBackend"/>.</summary>
    public TorchBackendOptions Backend { get; init; } = new();

    /// <summary>
    /// This run on a training set of <paramref name="trainImages"/> images: on a small set (<see cref="SmallDataImages"/>)
    /// without a chosen <see cref="Optimizer"/>, the small-data recipe, and epochs raised to
    /// <see cref="MinimumSteps"/>; otherwise (a large set, or a recipe chosen) unchanged. <paramref name="change"/> says what was changed, or is null.
    /// </summary>
    public DistillationSpec ForData(long trainImages, out string? change)
    {
        change = null;
        // A chosen recipe is someone's tuning, and its epochs go with it: only the defaults adapt.
        if (trainImages >= SmallDataImages || Optimizer is not null)
            return this;
        var run = this with { Optimizer = OptimizerRecipe.SmallData };
        var notes = new List<string> { $"the {OptimizerRecipe.SmallData.Description}" };
        var stepsPerEpoch = Math.Max(1, trainImages / BatchSize);
        var epochs = (int)Math.Min(int.MaxValue, (MinimumSteps + stepsPerEpoch - 1) / stepsPerEpoch);
        if (epochs > Epochs)
        {
            run = run with { Epochs = epochs };
            notes.Add($"{epochs} epochs instead of {Epochs}, to reach {MinimumSteps} steps at {stepsPerEpoch} a epoch ({nameof(MinimumSteps)} = 0 keeps {Epochs})");
        }
        if (notes.Count > 0)
            change = $"{trainImages} training images is a small data set (under {SmallDataImages}): " + string.Join("; ", notes) + ".";
        return run;
    }

    /// <summary>The recipe a model of <paramref name="family"/> trains with in this run.</summary>
    public OptimizerRecipe OptimizerFor(ModelFamily family) => Optimizer ?? OptimizerRecipe.OfficialFor(family, BatchSize);

    /// <summary>The training augmentation for a model of <paramref name="imageSize"/> pixels.</summary>
    public AugmentationOptions AugmentationFor(int imageSize) => Augmentation ?? new AugmentationOptions { ImageSize = imageSize };

    /// <summary>The EMA a student of <paramref name="family"/> keeps in this run, or null for none.</summary>
    public ModelEmaOptions? EmaFor(ModelFamily family) => Ema switch
    {
        { Enabled: false } => null,
        { } chosen => chosen,
        null => family is ModelFamily.VisionTransformer or ModelFamily.Swin or ModelFamily.ConvNeXt ? ModelEmaOptions.Recipe : null,
    };

    /// <summary>The run that trains the teacher from scratch: the student alone (<see cref="DistillationMethod.None"/>)
    /// for the teacher's epochs, with the teacher's recipe and seed. It checkpoints into <c>teacher/</c> under the run's
    /// <see cref="CheckpointDirectory"/>, so a run stopped while its teacher trains resumes the teacher too, instead of
    /// training it again from epoch 1.</summary>
    public DistillationSpec ForTeacherTraining() => this with
    {
        Method = DistillationMethod.None,
        Epochs = Teacher.Epochs,
        Seed = Teacher.Seed ?? Seed,
        Optimizer = Teacher.Optimizer ?? Optimizer,
        CheckpointDirectory = CheckpointDirectory is { } folder ? Path.Combine(folder, "teacher") : null,
    };

    /// <summary>Fails on settings that cannot work, naming the setting.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ImageSize, 1, nameof(ImageSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(Epochs, 1, nameof(Epochs));
        ArgumentOutOfRangeException.ThrowIfLessThan(BatchSize, 1, nameof(BatchSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(LogEverySteps, 1, nameof(LogEverySteps));
        ArgumentOutOfRangeException.ThrowIfLessThan(PrefetchDepth, 1, nameof(PrefetchDepth));
        ArgumentOutOfRangeException.ThrowIfNegative(MinimumSteps, nameof(MinimumSteps));
        ArgumentOutOfRangeException.ThrowIfNegative(SmallDataImages, nameof(SmallDataImages));
        if (GradientClipNorm is <= 0)
            throw new ArgumentOutOfRangeException(nameof(GradientClipNorm), GradientClipNorm, "Use null to switch clipping off.");
        if (EarlyStoppingPatience is < 1)
            throw new ArgumentOutOfRangeException(nameof(EarlyStoppingPatience), EarlyStoppingPatience, "Patience must be at least 1 epoch.");
        Optimizer?.Validate();
        Augmentation?.Validate();
        Teacher.Validate();
        TeacherCheck.Validate();
        if (Teacher.ImageSize is { } teacherSize && teacherSize != ImageSize && Teacher.WeightsPath is null && !ModelRegistry.IsBuiltInPretrained(Teacher.Model))
            throw new ArgumentException($"A teacher trained from scratch trains at the run's image size ({ImageSize} px); " +
                $"{nameof(TeacherSpec)}.{nameof(TeacherSpec.ImageSize)} {teacherSize} applies only to pretrained teachers.", nameof(Teacher));
    }
}
