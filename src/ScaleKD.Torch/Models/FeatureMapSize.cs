namespace ScaleKD.Torch.Models;

/// <summary>Spatial sizes after convolutions and poolings, with PyTorch's floor arithmetic, so that
/// <see cref="VisionModel.StageShapes"/> matches what a forward pass really produces, odd sizes included.</summary>
internal static class FeatureMapSize
{
    /// <summary>Output size of a convolution or (non-ceil) pooling along one axis.</summary>
    public static int After(int size, int kernel, int stride, int padding = 0, int dilation = 1)
    {
        var output = (size + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1;
        return size + 2 * padding < dilation * (kernel - 1) + 1 ? 0 : output;
    }
}
