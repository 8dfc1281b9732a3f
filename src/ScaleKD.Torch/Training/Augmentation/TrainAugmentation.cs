using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>
/// The training transform in timm's order: random-resized crop → horizontal flip → RandAugment → normalise → random
/// erasing. Every random decision of a batch comes from one <see cref="AugmentationRandom"/>, so a batch is
/// reproducible from (seed, epoch, batch index) alone. With <see cref="AugmentationOptions.Enabled"/> false it is
/// resize → centre crop → normalise and draws nothing.
/// </summary>
public sealed class TrainAugmentation
{
    readonly RandomResizedCrop _crop;
    readonly HorizontalFlip _flip;
    readonly RandAugment? _randAugment;
    readonly Normalize _normalize;
    readonly RandomErasing _erasing;

    /// <summary>The training transform of <paramref name="options"/>.</summary>
    public TrainAugmentation(AugmentationOptions options)
    {
        options.Validate();
        Options = options;
        _crop = new RandomResizedCrop(options.ImageSize, (options.CropScaleMin, options.CropScaleMax),
            (options.CropRatioMin, options.CropRatioMax), options.Interpolation);
        _flip = new HorizontalFlip(options.HorizontalFlipProbability);
        _randAugment = options.RandAugment is null ? null : new RandAugment(options.RandAugment with { Fill = options.RandAugmentFill });
        _normalize = new Normalize(options.Mean, options.Std);
        _erasing = ErasingFor(options);
    }

    /// <summary>The random erasing of <paramref name="options"/>: its probability and mode, timm's ranges.</summary>
    internal static RandomErasing ErasingFor(AugmentationOptions options) => new(options.ErasingProbability, mode: options.ErasingMode);

    /// <summary>The settings.</summary>
    public AugmentationOptions Options { get; }

    /// <summary>Augments batch <paramref name="batchIndex"/> of <paramref name="epoch"/> in a run seeded with <paramref name="seed"/>.</summary>
    public Tensor Apply(Tensor images, long seed, int epoch, long batchIndex) =>
        Apply(images, AugmentationRandom.ForBatch(seed, epoch, batchIndex));

    /// <summary>
    /// The normalised, augmented (N, C', size, size) batch of an (N, C, H, W) batch in [0, 1], on the input's device and
    /// dtype; C' follows <see cref="Normalize"/>'s channel rules.
    /// </summary>
    public Tensor Apply(Tensor images, AugmentationRandom random)
    {
        ImageResize.RequireBatch(images);
        using var scope = NewDisposeScope();
        var cropped = Options.Enabled
            ? _crop.Apply(images, random)
            : ImageResize.ResizeAndCenterCrop(images, Options.ImageSize, Options.ImageSize, Options.Interpolation);
        return AugmentCropped(cropped, random).MoveToOuterDisposeScope();
    }

    /// <summary>As <see cref="Apply(Tensor, AugmentationRandom)"/> for images of different sizes, each (C, H, W) in [0, 1].</summary>
    public Tensor Apply(IReadOnlyList<Tensor> images, AugmentationRandom random)
    {
        using var scope = NewDisposeScope();
        var cropped = Options.Enabled
            ? _crop.Apply(images, random)
            : ImageResize.ResizeAndCenterCrop(images, Options.ImageSize, Options.ImageSize, Options.Interpolation);
        return AugmentCropped(cropped, random).MoveToOuterDisposeScope();
    }

    Tensor AugmentCropped(Tensor cropped, AugmentationRandom random)
    {
        if (!Options.Enabled)
            return _normalize.Apply(cropped);
        var augmented = Options.HorizontalFlipProbability > 0 ? _flip.Apply(cropped, random) : cropped;
        if (_randAugment is not null)
            augmented = _randAugment.Apply(augmented, random);
        var normalized = _normalize.Apply(augmented);
        return Options.ErasingProbability > 0 ? _erasing.Apply(normalized, random) : normalized;
    }
}
