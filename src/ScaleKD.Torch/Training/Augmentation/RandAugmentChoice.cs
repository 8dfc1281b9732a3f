namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>What one RandAugment layer does to one image.</summary>
/// <param name="Op">The drawn op.</param>
/// <param name="Applied">Whether it passed its application probability; a skipped op leaves the image as it is.</param>
/// <param name="Magnitude">The noisy, clipped magnitude (NaN when skipped).</param>
/// <param name="Argument">
/// The op's argument derived from the magnitude, sign included: degrees, shear factor, shift fraction, bits kept,
/// threshold, codes added or enhance factor (NaN when skipped or when the op has none).
/// </param>
public readonly record struct RandAugmentChoice(RandAugmentOp Op, bool Applied, double Magnitude, double Argument);
