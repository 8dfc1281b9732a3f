namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>
/// The fifteen operations of timm's RandAugment lists (_RAND_TRANSFORMS, and _RAND_INCREASING_TRANSFORMS with "inc1"),
/// in timm's order. Whether posterize, solarize and the four enhance ops grow more severe with the magnitude is a
/// property of the policy (<see cref="RandAugmentOptions.Increasing"/>), not of the op.
/// </summary>
public enum RandAugmentOp
{
    /// <summary>Per-channel contrast stretch; no magnitude.</summary>
    AutoContrast,
    /// <summary>Per-channel histogram equalisation; no magnitude.</summary>
    Equalize,
    /// <summary>Negative image; no magnitude.</summary>
    Invert,
    /// <summary>Rotation about the centre by up to ±30° at magnitude 10.</summary>
    Rotate,
    /// <summary>Keeps the most significant bits of each code: 4 − ⌊4m/10⌋ bits when increasing, ⌊4m/10⌋ otherwise.</summary>
    Posterize,
    /// <summary>Inverts codes at or above a threshold: 256 − ⌊256m/10⌋ when increasing, ⌊256m/10⌋ otherwise.</summary>
    Solarize,
    /// <summary>Adds ⌊110m/10⌋ to codes below 128.</summary>
    SolarizeAdd,
    /// <summary>Saturation blend.</summary>
    Color,
    /// <summary>Contrast blend.</summary>
    Contrast,
    /// <summary>Brightness blend.</summary>
    Brightness,
    /// <summary>Sharpness blend.</summary>
    Sharpness,
    /// <summary>Horizontal shear by up to ±0.3 at magnitude 10.</summary>
    ShearX,
    /// <summary>Vertical shear by up to ±0.3 at magnitude 10.</summary>
    ShearY,
    /// <summary>Horizontal shift by up to ±45 % of the width at magnitude 10.</summary>
    TranslateXRel,
    /// <summary>Vertical shift by up to ±45 % of the height at magnitude 10.</summary>
    TranslateYRel,
}
