namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>What an erased box is filled with (timm's RandomErasing modes), in normalised units.</summary>
public enum ErasingMode
{
    /// <summary>timm 'const': zero, the mean colour after normalisation.</summary>
    Constant,
    /// <summary>timm 'rand': one standard-normal colour per box.</summary>
    RandomColor,
    /// <summary>timm 'pixel': standard-normal noise per pixel and channel (the ScaleKD recipe's mode).</summary>
    Pixel,
}
