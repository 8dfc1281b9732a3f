using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>
/// PIL's ImageEnhance operations on (N, C, H, W) images in [0, 1]: each blends the image with a "degenerate" version,
/// out = degenerate + factor·(image − degenerate), clipped to [0, 1]. Factor 1 keeps the image, 0 gives the degenerate,
/// above 1 extrapolates away from it.
/// </summary>
/// <remarks>
/// PIL stores the degenerate and the blend as 8-bit codes and truncates; here both stay continuous, so results lie
/// within about one code of PIL's on 8-bit inputs. Contrast pivots on the exact mean gray level where PIL rounds it
/// to a code first.
/// </remarks>
public static class EnhanceOps
{
    /// <summary>Saturation: blends with the image's gray version (ITU-R 601 luma, PIL's convert("L")). 1-channel images are unchanged.</summary>
    public static Tensor Color(Tensor images, IReadOnlyList<double> factor)
    {
        ImageResize.RequireBatch(images);
        using var scope = NewDisposeScope();
        if (images.shape[1] == 1)
            return images.clone().MoveToOuterDisposeScope();
        return Blend(Gray(images), images, factor).MoveToOuterDisposeScope();
    }

    /// <summary>Contrast: blends with a uniform image at the mean gray level of the whole image.</summary>
    public static Tensor Contrast(Tensor images, IReadOnlyList<double> factor)
    {
        ImageResize.RequireBatch(images);
        using var scope = NewDisposeScope();
        return Blend(Gray(images).mean([1, 2, 3], keepdim: true), images, factor).MoveToOuterDisposeScope();
    }

    /// <summary>Brightness: blends with black, i.e. scales the values.</summary>
    public static Tensor Brightness(Tensor images, IReadOnlyList<double> factor)
    {
        ImageResize.RequireBatch(images);
        using var scope = NewDisposeScope();
        return Blend(zeros(1, 1, 1, 1, images.dtype, images.device), images, factor).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Sharpness: blends with PIL's SMOOTH filter (3×3 kernel [1 1 1; 1 5 1; 1 1 1] / 13), which leaves the one-pixel
    /// border as it is; factors above 1 sharpen.
    /// </summary>
    public static Tensor Sharpness(Tensor images, IReadOnlyList<double> factor)
    {
        ImageResize.RequireBatch(images);
        using var scope = NewDisposeScope();
        var (channels, height, width) = (images.shape[1], images.shape[2], images.shape[3]);
        var smooth = images.clone();
        if (height >= 3 && width >= 3)
        {
            var kernel = tensor(new double[] { 1, 1, 1, 1, 5, 1, 1, 1, 1 }, dtype: images.dtype, device: images.device)
                .div(13.0).view(1, 1, 3, 3).expand(channels, 1, 3, 3);
            var interior = nn.functional.conv2d(images, kernel, groups: channels);
            smooth.narrow(2, 1, height - 2).narrow(3, 1, width - 2).copy_(interior);
        }
        return Blend(smooth, images, factor).MoveToOuterDisposeScope();
    }

    /// <summary>The luma Y = 0.299 R + 0.587 G + 0.114 B as one channel (PIL's convert("L") weights); a 1-channel image is its own gray.</summary>
    public static Tensor Gray(Tensor images)
    {
        ImageResize.RequireBatch(images);
        if (images.shape[1] == 1)
            return images.alias();
        if (images.shape[1] != 3)
            throw new ArgumentException($"Gray needs 1 or 3 channels, got {images.shape[1]}.", nameof(images));
        using var scope = NewDisposeScope();
        var weights = tensor(new[] { 0.299, 0.587, 0.114 }, dtype: images.dtype, device: images.device).view(1, 3, 1, 1);
        return (images * weights).sum(1, keepdim: true).MoveToOuterDisposeScope();
    }

    static Tensor Blend(Tensor degenerate, Tensor images, IReadOnlyList<double> factor) =>
        (degenerate + PerImageArguments.AsTensor(factor, images, nameof(factor)) * (images - degenerate)).clamp(0.0, 1.0);
}
