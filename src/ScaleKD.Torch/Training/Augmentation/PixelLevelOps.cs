using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>
/// The point operations of PIL's ImageOps that RandAugment uses, on (N, C, H, W) images in [0, 1], per channel as PIL
/// treats an RGB image's bands.
/// </summary>
/// <remarks>
/// PIL works on 8-bit codes. Here an op works on 8-bit codes only where codes are its meaning: posterize masks bits and
/// equalize maps a 256-bin histogram, so both return values on the 1/255 grid; solarize and solarize-add decide
/// per pixel by the nearest code against an integer threshold. Invert and autocontrast stay continuous (PIL's
/// autocontrast truncates to a code, up to one code below the value here). On 8-bit inputs, all but autocontrast
/// therefore give PIL's values exactly.
/// </remarks>
public static class PixelLevelOps
{
    /// <summary>255 − v: the image's negative (ImageOps.invert).</summary>
    public static Tensor Invert(Tensor images)
    {
        ImageResize.RequireBatch(images);
        return 1.0 - images;
    }

    /// <summary>
    /// Stretches each channel so its darkest value becomes 0 and its brightest 1 (ImageOps.autocontrast with no
    /// cutoff); a channel whose extremes share one 8-bit code is left alone, as in PIL.
    /// </summary>
    public static Tensor AutoContrast(Tensor images)
    {
        ImageResize.RequireBatch(images);
        using var scope = NewDisposeScope();
        var low = images.amin([2, 3], keepdim: true);
        var high = images.amax([2, 3], keepdim: true);
        var spread = Codes(high) > Codes(low);
        var stretched = ((images - low) / (high - low).where(spread, ones_like(high))).clamp(0.0, 1.0);
        return stretched.where(spread, images).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Histogram equalisation of each channel over 256 bins, with PIL's lookup table (ImageOps.equalize):
    /// step = (pixels − count of the last occupied bin) // 255, code i ↦ (step // 2 + pixels below i) // step; a channel
    /// with step 0 (one occupied bin, or too few pixels) is unchanged.
    /// </summary>
    public static Tensor Equalize(Tensor images)
    {
        ImageResize.RequireBatch(images);
        using var scope = NewDisposeScope();
        var (n, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3]);
        var codes = Codes(images).to(int64).view(n * c, h * w);
        var histogram = zeros(n * c, 256, int64, images.device).scatter_add_(1, codes, ones_like(codes));
        var bins = arange(256, int64, images.device).unsqueeze(0);
        var lastOccupied = (bins * histogram.gt(0)).amax([1], keepdim: true);
        var step = (h * w - histogram.gather(1, lastOccupied)).div(255, RoundingMode.floor);
        var below = histogram.cumsum(1) - histogram;
        var safeStep = step.clamp_min(1);
        var table = (step.div(2, RoundingMode.floor) + below).div(safeStep, RoundingMode.floor).clamp_max(255);
        table = table.where(step.gt(0), bins.expand(n * c, 256));
        var equalized = table.gather(1, codes).view(n, c, h, w).to(images.dtype) / 255.0;
        return equalized.MoveToOuterDisposeScope();
    }

    /// <summary>Keeps the <paramref name="bitsToKeep"/> most significant bits of each 8-bit code (ImageOps.posterize); 8 or more keeps the image.</summary>
    public static Tensor Posterize(Tensor images, IReadOnlyList<double> bitsToKeep)
    {
        ImageResize.RequireBatch(images);
        if (bitsToKeep.Any(b => b < 0 || b != Math.Floor(b)))
            throw new ArgumentOutOfRangeException(nameof(bitsToKeep), "Bit counts are non-negative integers.");
        using var scope = NewDisposeScope();
        var bucket = PerImageArguments.AsTensor(bitsToKeep.Select(b => Math.Pow(2, 8 - Math.Min(b, 8))).ToArray(), images, nameof(bitsToKeep));
        return ((Codes(images) / bucket).floor() * bucket / 255.0).MoveToOuterDisposeScope();
    }

    /// <summary>Inverts every pixel whose 8-bit code is at least <paramref name="threshold"/> (ImageOps.solarize); 256 changes nothing.</summary>
    public static Tensor Solarize(Tensor images, IReadOnlyList<double> threshold)
    {
        ImageResize.RequireBatch(images);
        using var scope = NewDisposeScope();
        var inverted = Codes(images) >= PerImageArguments.AsTensor(threshold, images, nameof(threshold));
        return (1.0 - images).where(inverted, images).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Adds <paramref name="addition"/> codes (saturating at 255) to every pixel whose code is below
    /// <paramref name="threshold"/>, timm's solarize_add.
    /// </summary>
    public static Tensor SolarizeAdd(Tensor images, IReadOnlyList<double> addition, double threshold = 128)
    {
        ImageResize.RequireBatch(images);
        using var scope = NewDisposeScope();
        var raised = (images + PerImageArguments.AsTensor(addition, images, nameof(addition)) / 255.0).clamp_max(1.0);
        return raised.where(Codes(images) < threshold, images).MoveToOuterDisposeScope();
    }

    /// <summary>The nearest 8-bit code of each value, as a float of the images' dtype.</summary>
    internal static Tensor Codes(Tensor images) => (images * 255.0).round().clamp(0.0, 255.0);
}
