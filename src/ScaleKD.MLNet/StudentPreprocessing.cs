using ScaleKD.Torch.Onnx.Export;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;

namespace ScaleKD.MLNet;

/// <summary>How images are prepared for the student; saved in the model zip so that scoring matches training.</summary>
/// <param name="ImageSize">Square input size in pixels.</param>
/// <param name="Mean">Per-channel mean (RGB) subtracted after scaling to [0, 1].</param>
/// <param name="Std">Per-channel standard deviation (RGB) divided by.</param>
/// <param name="CropFraction">Evaluation resizes the shorter side to ImageSize / CropFraction, then centre-crops.</param>
public sealed record StudentPreprocessing(int ImageSize, IReadOnlyList<double> Mean, IReadOnlyList<double> Std, double CropFraction)
{
    /// <summary>The preprocessing of a run's student: its image size, and the normalisation and evaluation crop of the
    /// run's augmentation.</summary>
    internal static StudentPreprocessing For(DistillationSpec spec)
    {
        var augmentation = spec.AugmentationFor(spec.ImageSize);
        return new StudentPreprocessing(spec.ImageSize, augmentation.Mean, augmentation.Std, augmentation.EffectiveEvalCropFraction);
    }

    /// <summary>The evaluation transform these settings describe.</summary>
    internal EvalTransform CreateTransform() =>
        new(AugmentationOptions.Disabled(ImageSize) with { Mean = Mean, Std = Std, EvalCropFraction = CropFraction });

    /// <summary>The shorter side evaluation resizes images to before the centre crop of <see cref="ImageSize"/>; also
    /// the size images are stored at during training (shorter side, then centre crop) before augmentation.</summary>
    public int ResizeSize => (int)Math.Floor(ImageSize / CropFraction);

    /// <summary>What an ONNX export of the student needs to normalise as this preprocessing does: its mean and
    /// standard deviation, applied inside the graph to pixels in [0, 255].</summary>
    public OnnxExportOptions ToOnnxExportOptions() => new() { Mean = Mean, Std = Std };
}
