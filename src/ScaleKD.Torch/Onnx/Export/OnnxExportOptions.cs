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

    /// <summary>Fails unless the statistics fit a model of <paramref name="channels"/> input channels.</summary>
    internal void Validate(int channels)
    {
        if (Mean.Count != Std.Count || (Mean.Count != channels && Mean.Count != 1))
            throw new ArgumentException(
                $"The export's normalisation has {Mean.Count} means and {Std.Count} standard deviations; a model of {channels} input channels needs {channels} of each, or one of each for all channels.");
        if (Std.Any(s => !(s > 0)) || Mean.Any(m => !double.IsFinite(m)))
            throw new ArgumentException("The export's normalisation needs finite means and positive standard deviations.");
    }
}
