using ScaleKD.Torch.Training.Augmentation;

namespace ScaleKD.Torch.Onnx.Export;

/// <summary>How an exported graph normalises its pixels: (x / 255 − mean) / std per channel, as the student saw its
/// images in training and evaluation.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>Channel means in [0, 1] (one per input channel, or one for all); ImageNet's by default.</summary>
    public IReadOnlyList<double> Mean { get; init; } = Normalize.ImageNetMean;

    /// <summary>Channel standard deviations in [0, 1] units (one per input channel, or one for all); ImageNet's by default.</summary>
    public IReadOnlyList<double> Std { get; init; } = Normalize.ImageNetStd;

    /// <summary>
    /// The side of the square input, when it is larger than the model's image size: the graph then takes the central
    /// window of the model's size (placed as the evaluation's centre crop, offsets rounded half to even). With a
    /// resize of the shorter side to this size before it, the graph computes the evaluation's resize-then-crop. Null:
    /// the model's image size, no crop.
    /// </summary>
    public int? InputSize { get; init; }

    /// <summary>Fails unless the statistics fit a model of <paramref name="channels"/> input channels and the input
    /// size is at least the model's <paramref name="imageSize"/>.</summary>
    internal void Validate(int channels, int imageSize)
    {
        if (InputSize is { } input && input < imageSize)
            throw new ArgumentException($"The export's input size {input} is smaller than the model's image size {imageSize}; the graph can only crop.");
        if (Mean.Count != Std.Count || (Mean.Count != channels && Mean.Count != 1))
            throw new ArgumentException(
                $"The export's normalisation has {Mean.Count} means and {Std.Count} standard deviations; a model of {channels} input channels needs {channels} of each, or one of each for all channels.");
        if (Std.Any(s => !(s > 0)) || Mean.Any(m => !double.IsFinite(m)))
            throw new ArgumentException("The export's normalisation needs finite means and positive standard deviations.");
    }
}
