namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>
/// RandAugment's settings. The defaults are timm's "rand-m9-mstd0.5-inc1", the ScaleKD advanced recipe: two ops per
/// image drawn with replacement from the fifteen, each applied with probability 0.5 at a magnitude drawn from
/// N(9, 0.5²) and clipped to [0, 10], with severity increasing in the magnitude.
/// </summary>
public sealed record RandAugmentOptions
{
    /// <summary>timm's _LEVEL_DENOM: a magnitude of 10 is an op's full strength.</summary>
    public const double LevelDenominator = 10.0;

    /// <summary>The ops drawn per image (timm "n"; default 2).</summary>
    public int OpsPerImage { get; init; } = 2;

    /// <summary>The magnitude (timm "m"; default 9 of 10).</summary>
    public double Magnitude { get; init; } = 9;

    /// <summary>
    /// The standard deviation of the Gaussian noise added to the magnitude each time an op is applied (timm "mstd";
    /// default 0.5). 0 keeps it fixed; positive infinity draws it uniformly from [0, <see cref="Magnitude"/>].
    /// </summary>
    public double MagnitudeStd { get; init; } = 0.5;

    /// <summary>The upper clip of the noisy magnitude (timm "mmax"; default 10). The lower clip is 0.</summary>
    public double MagnitudeMax { get; init; } = LevelDenominator;

    /// <summary>The probability that each drawn op is applied (timm "p"; default 0.5).</summary>
    public double Probability { get; init; } = 0.5;

    /// <summary>timm "inc1" (default true): the increasing variants of posterize, solarize, color, contrast, brightness and sharpness.</summary>
    public bool Increasing { get; init; } = true;

    /// <summary>The largest shift of the translate ops as a fraction of the image side (timm's translate_pct; default 0.45).</summary>
    public double TranslateFraction { get; init; } = 0.45;

    /// <summary>
    /// The colour that geometric ops fill uncovered pixels with, in [0, 1], one value per channel or one for all. Null
    /// lets <c>TrainAugmentation</c> derive it from the normalisation mean, round(255·mean)/255, as timm's
    /// transforms factory does; a standalone <see cref="RandAugment"/> then uses timm's _FILL, gray 128/255.
    /// </summary>
    public IReadOnlyList<double>? Fill { get; init; }

    /// <summary>Throws for settings outside their ranges.</summary>
    public void Validate()
    {
        if (OpsPerImage < 0)
            throw new ArgumentOutOfRangeException(nameof(OpsPerImage), OpsPerImage, "The number of ops per image cannot be negative.");
        if (!(Magnitude >= 0) || !(MagnitudeMax > 0))
            throw new ArgumentOutOfRangeException(nameof(Magnitude), Magnitude, "The magnitude and its maximum must be non-negative and positive.");
        if (!(MagnitudeStd >= 0))
            throw new ArgumentOutOfRangeException(nameof(MagnitudeStd), MagnitudeStd, "The magnitude's standard deviation cannot be negative.");
        if (Probability is < 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(Probability), Probability, "A probability lies in [0, 1].");
        if (!(TranslateFraction >= 0))
            throw new ArgumentOutOfRangeException(nameof(TranslateFraction), TranslateFraction, "The translate fraction cannot be negative.");
        if (Fill is { Count: 0 } || Fill?.Any(v => v is < 0 or > 1) == true)
            throw new ArgumentOutOfRangeException(nameof(Fill), "Fill values lie in [0, 1], at least one.");
    }
}
