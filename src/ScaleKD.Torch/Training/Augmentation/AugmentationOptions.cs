namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>
/// The image pipeline of training and evaluation. The defaults are the ScaleKD advanced recipe on timm's pipeline:
/// random-resized crop (scale 0.08–1, ratio 3/4–4/3, bilinear), horizontal flip 0.5, RandAugment
/// "rand-m9-mstd0.5-inc1", ImageNet normalisation, random erasing 0.25 with per-pixel noise; no Mixup or CutMix.
/// </summary>
public sealed record AugmentationOptions
{
    /// <summary>The side of the square images the model receives (default 224).</summary>
    public int ImageSize { get; init; } = 224;

    /// <summary>
    /// False switches every random transform off, for tests and ablations: training images are then resized (shorter
    /// side to <see cref="ImageSize"/>), centre-cropped and normalised, timm's no-aug training transform.
    /// </summary>
    public bool Enabled { get; init; } = true;

    /// <summary>The smallest area fraction of the random crop (default 0.08).</summary>
    public double CropScaleMin { get; init; } = 0.08;

    /// <summary>The largest area fraction of the random crop (default 1).</summary>
    public double CropScaleMax { get; init; } = 1.0;

    /// <summary>The smallest width / height of the random crop (default 3/4).</summary>
    public double CropRatioMin { get; init; } = 3.0 / 4.0;

    /// <summary>The largest width / height of the random crop (default 4/3).</summary>
    public double CropRatioMax { get; init; } = 4.0 / 3.0;

    /// <summary>The probability of mirroring an image (default 0.5; 0 turns flipping off).</summary>
    public double HorizontalFlipProbability { get; init; } = 0.5;

    /// <summary>RandAugment's settings (default "rand-m9-mstd0.5-inc1"); null turns it off.</summary>
    public RandAugmentOptions? RandAugment { get; init; } = new();

    /// <summary>The probability that an image gets a random-erasing box (default 0.25; 0 turns erasing off).</summary>
    public double ErasingProbability { get; init; } = 0.25;

    /// <summary>What erased boxes are filled with (default per-pixel noise).</summary>
    public ErasingMode ErasingMode { get; init; } = ErasingMode.Pixel;

    /// <summary>The normalisation means (default ImageNet's); see <see cref="Normalize"/> for the channel rules.</summary>
    public IReadOnlyList<double> Mean { get; init; } = Normalize.ImageNetMean;

    /// <summary>The normalisation standard deviations (default ImageNet's).</summary>
    public IReadOnlyList<double> Std { get; init; } = Normalize.ImageNetStd;

    /// <summary>How crops and evaluation images are resized (default bilinear).</summary>
    public ResizeInterpolation Interpolation { get; init; } = ResizeInterpolation.Bilinear;

    /// <summary>
    /// The evaluation crop fraction (timm's crop_pct): images are resized to ⌊size / fraction⌋ on the shorter side and
    /// centre-cropped to size. Null means timm's 0.875, except 1.0 for images of 64 pixels or less, which have no
    /// margin to lose (a 28-pixel Fashion-MNIST image is then only normalised).
    /// </summary>
    public double? EvalCropFraction { get; init; }

    /// <summary>The evaluation crop fraction in effect (see <see cref="EvalCropFraction"/>).</summary>
    public double EffectiveEvalCropFraction => EvalCropFraction ?? (ImageSize <= 64 ? 1.0 : 0.875);

    /// <summary>The pipeline with every random transform off, images of <paramref name="imageSize"/> pixels.</summary>
    public static AugmentationOptions Disabled(int imageSize) => new() { ImageSize = imageSize, Enabled = false };

    /// <summary>Crop-and-flip only, cheap on a CPU: a random-resized crop from at least 35 % of the area and the
    /// horizontal flip, without RandAugment or erasing (the quick preset's augmentation).</summary>
    public static AugmentationOptions Light(int imageSize) =>
        new() { ImageSize = imageSize, CropScaleMin = 0.35, RandAugment = null, ErasingProbability = 0 };

    /// <summary>
    /// The fill colour of RandAugment's geometric ops: the configured one, else round(255·mean)/255 per channel, as
    /// timm's transforms factory passes img_mean to RandAugment.
    /// </summary>
    public IReadOnlyList<double> RandAugmentFill =>
        RandAugment?.Fill ?? Mean.Select(m => Math.Min(255.0, Math.Round(255.0 * m, MidpointRounding.ToEven)) / 255.0).ToArray();

    /// <summary>Throws for settings outside their ranges.</summary>
    public void Validate()
    {
        if (ImageSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(ImageSize), ImageSize, "The image size must be positive.");
        if (!(CropScaleMin > 0 && CropScaleMin <= CropScaleMax))
            throw new ArgumentOutOfRangeException(nameof(CropScaleMin), "The crop scale range must be positive and ordered.");
        if (!(CropRatioMin > 0 && CropRatioMin <= CropRatioMax))
            throw new ArgumentOutOfRangeException(nameof(CropRatioMin), "The crop ratio range must be positive and ordered.");
        if (HorizontalFlipProbability is < 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(HorizontalFlipProbability), HorizontalFlipProbability, "A probability lies in [0, 1].");
        if (ErasingProbability is < 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(ErasingProbability), ErasingProbability, "A probability lies in [0, 1].");
        if (EvalCropFraction is { } fraction && !(fraction > 0 && fraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(EvalCropFraction), fraction, "The evaluation crop fraction lies in (0, 1].");
        RandAugment?.Validate();
        _ = new Normalize(Mean, Std);
    }
}
