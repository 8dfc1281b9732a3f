using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training.Optimization;

namespace ScaleKD.Torch.Teachers;

/// <summary>
/// The teacher part of a <see cref="Training.DistillationSpec"/>: which architecture, where its weights come from, and
/// how <see cref="TeacherPreparation"/> trains, probes, saves and caches it.
/// </summary>
public sealed record TeacherSpec
{
    /// <summary>The architecture by its timm name, e.g. <c>swin_large_patch4_window7_224</c>, <c>vit_small_patch16_224</c>,
    /// or a built-in pretrained network (<see cref="ModelRegistry.IsBuiltInPretrained"/>). Default:
    /// <c>resnet18_imagenet_mlnet</c>, the ImageNet ResNet-18 inside ML.NET's own NuGet package, the one strong
    /// pretrained network available offline: a teacher that knows something on any user's images, where one trained from
    /// scratch on a few hundred images knows nothing and distilling from it makes the student worse.</summary>
    public string Model { get; init; } = MlNetResNet18.Name;

    /// <summary>The side of the square images the teacher sees (they are resized from the student's); null: the run's
    /// image size, raised for a built-in pretrained teacher to the nearest size it runs at
    /// (<see cref="ModelRegistry.TeacherImageSize"/>). A pretrained teacher is most accurate near the size it learned at
    /// (224 px) and cheapest at its smallest (64 px for <c>resnet18_imagenet_mlnet</c>); the projectors map between the
    /// two grids.</summary>
    public int? ImageSize { get; init; }

    /// <summary>The teacher's weights: a timm/Hugging Face safetensors file (timm parameter names; a head for other
    /// classes is replaced by a linear probe), or a teacher this library saved (its <c>.json</c> description beside
    /// it). Null trains the teacher from scratch for <see cref="Epochs"/>.</summary>
    public string? WeightsPath { get; init; }

    /// <summary>Epochs of from-scratch training, when there are no weights and the model is not a built-in pretrained one.</summary>
    public int Epochs { get; init; } = 10;

    /// <summary>The recipe of from-scratch training; null: the run's own <see cref="Training.DistillationSpec.Optimizer"/>,
    /// or the official recipe for the teacher's family when that is null too.</summary>
    public OptimizerRecipe? Optimizer { get; init; }

    /// <summary>Seed of a from-scratch teacher's initial weights (seed + 1) and of its training run; null: the run's
    /// seed. Runs that should share one cached teacher give it the same seed.</summary>
    public int? Seed { get; init; }

    /// <summary>The linear probe that fits an imported teacher's head to the data's classes.</summary>
    public LinearProbeOptions LinearProbe { get; init; } = new();

    /// <summary>Epochs of fine-tuning the whole pretrained teacher on the data's labels after its linear probe (a
    /// built-in pretrained teacher, or imported weights whose head was replaced); 0 (the default): the probe alone. The
    /// backbone learns at <see cref="FineTuneBackboneScale"/> of the head's rate, so what it learned on ImageNet is
    /// adjusted, not overwritten. The fine-tuned teacher is cached whole.</summary>
    public int FineTuneEpochs { get; init; }

    /// <summary>Peak learning rate of the head while fine-tuning (AdamW, with warm-up and cosine). Default 1e-3.</summary>
    public double FineTuneLearningRate { get; init; } = 1e-3;

    /// <summary>The backbone's learning rate while fine-tuning, as a fraction of <see cref="FineTuneLearningRate"/>.
    /// Default 0.1.</summary>
    public double FineTuneBackboneScale { get; init; } = 0.1;

    /// <summary>Where to save a teacher trained from scratch (safetensors plus its .json description); null: nowhere.</summary>
    public string? SavePath { get; init; }

    /// <summary>A folder of teachers trained from scratch, reused by runs with the same teacher settings on the same
    /// data (<see cref="TeacherCache"/>); null: no cache. The data must be named (<see cref="TeacherData.CacheKey"/>).</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>The teacher's image size in a run whose student sees <paramref name="studentImageSize"/> px.</summary>
    public int ImageSizeFor(int studentImageSize) => ImageSize ?? ModelRegistry.TeacherImageSize(Model, studentImageSize);

    /// <summary>Fails on settings that cannot work, naming the setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Model))
            throw new ArgumentException("The teacher needs a model name.", nameof(Model));
        ArgumentOutOfRangeException.ThrowIfLessThan(Epochs, 1, nameof(Epochs));
        ArgumentOutOfRangeException.ThrowIfNegative(FineTuneEpochs, nameof(FineTuneEpochs));
        if (!(FineTuneLearningRate > 0))
            throw new ArgumentOutOfRangeException(nameof(FineTuneLearningRate), FineTuneLearningRate, "The fine-tuning learning rate must be positive.");
        if (!(FineTuneBackboneScale > 0 && FineTuneBackboneScale <= 1))
            throw new ArgumentOutOfRangeException(nameof(FineTuneBackboneScale), FineTuneBackboneScale, "The backbone's share of the learning rate must be in (0, 1].");
        if (ImageSize is < 1)
            throw new ArgumentOutOfRangeException(nameof(ImageSize), ImageSize, "The teacher's image size must be positive, or null for the run's.");
        Optimizer?.Validate();
    }
}
