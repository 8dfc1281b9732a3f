namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>A rectangle of pixels: rows [Top, Top + Height), columns [Left, Left + Width).</summary>
/// <param name="Top">The first row.</param>
/// <param name="Left">The first column.</param>
/// <param name="Height">The number of rows.</param>
/// <param name="Width">The number of columns.</param>
public readonly record struct CropBox(int Top, int Left, int Height, int Width);
