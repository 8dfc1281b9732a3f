using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>Small deterministic test images in [0, 1].</summary>
static class AugmentationTestImages
{
    /// <summary>Uniform random values on the 8-bit grid (codes / 255), as decoded images are.</summary>
    public static Tensor Codes(long n, long channels, long height, long width, ulong seed = 1)
    {
        using var generator = new Generator(seed);
        return randint(0, 256, [n, channels, height, width], generator: generator).to(float32) / 255.0f;
    }

    /// <summary>Smooth random images (a random image enlarged), where resampling errors stay small.</summary>
    public static Tensor Smooth(long n, long channels, long size, ulong seed = 2)
    {
        using var generator = new Generator(seed);
        var coarse = rand([n, channels, 4, 4], generator: generator);
        return nn.functional.interpolate(coarse, [size, size], mode: InterpolationMode.Bilinear, align_corners: false);
    }

    public static double MaxDifference(Tensor a, Tensor b) => (a.to(float64) - b.to(float64)).abs().max().item<double>();
}
