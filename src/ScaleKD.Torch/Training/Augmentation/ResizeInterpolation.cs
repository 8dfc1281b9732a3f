namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>How images are resampled when resized (random-resized crop, the evaluation resize).</summary>
public enum ResizeInterpolation
{
    /// <summary>Bilinear, antialiased when shrinking, as PIL's BILINEAR resize (the default of timm's crops).</summary>
    Bilinear,

    /// <summary>
    /// Bicubic, antialiased when shrinking. PyTorch's cubic kernel has a = −0.75 where PIL's has a = −0.5, so values
    /// differ slightly from PIL's BICUBIC; results are clamped to [0, 1] as PIL clips to 8 bits.
    /// </summary>
    Bicubic,
}
