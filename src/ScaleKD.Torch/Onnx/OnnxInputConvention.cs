using static TorchSharp.torch;

namespace ScaleKD.Torch.Onnx;

/// <summary>
/// What an imported graph expects as input, so that it can be fed the images every model here gets: RGB, scaled to
/// [0, 1] and standardised with ImageNet's mean and standard deviation (timm's convention).
/// </summary>
/// <param name="Bgr">The graph reads channels in B, G, R order (CNTK and Caffe exports).</param>
/// <param name="PixelScale">The graph's pixel range: 1 for [0, 1], 255 for [0, 255].</param>
/// <param name="Mean">Subtracted after scaling: (C) per channel or (C, H, W) a mean image, in the graph's channel order;
/// null for none.</param>
/// <param name="Std">Divided by after the mean, (C) in the graph's channel order; null for none.</param>
public sealed record OnnxInputConvention(bool Bgr, double PixelScale, Tensor? Mean, Tensor? Std)
{
    /// <summary>A graph that takes timm-standardised RGB images as they are.</summary>
    public static OnnxInputConvention Timm { get; } = new(false, 1, null, null);
}
