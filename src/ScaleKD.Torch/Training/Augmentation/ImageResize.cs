using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>Resizing of (N, C, H, W) images with PIL's semantics: pixel areas aligned at their corners, antialiased shrinking.</summary>
public static class ImageResize
{
    /// <summary>
    /// <paramref name="images"/> resized to <paramref name="height"/> × <paramref name="width"/>. Shrinking is
    /// antialiased (PyTorch's antialiased kernels are ported from PIL's resampling), so a crop shrunk here matches
    /// what timm's PIL pipeline computes up to 8-bit rounding. An unchanged size returns a copy.
    /// </summary>
    public static Tensor Resize(Tensor images, long height, long width, ResizeInterpolation interpolation)
    {
        RequireBatch(images);
        if (images.shape[2] == height && images.shape[3] == width)
            return images.clone();
        using var scope = NewDisposeScope();
        var mode = interpolation == ResizeInterpolation.Bicubic ? InterpolationMode.Bicubic : InterpolationMode.Bilinear;
        var resized = nn.functional.interpolate(images, [height, width], mode: mode, align_corners: false, antialias: true);
        // Cubic kernels overshoot; PIL clips to the 8-bit range.
        if (interpolation == ResizeInterpolation.Bicubic)
            resized = resized.clamp(0.0, 1.0);
        return resized.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Resizes so that the shorter side becomes <paramref name="shorterSide"/> and the longer one keeps the aspect
    /// ratio, truncated as torchvision's Resize(int) does.
    /// </summary>
    public static Tensor ResizeShorterSide(Tensor images, long shorterSide, ResizeInterpolation interpolation)
    {
        RequireBatch(images);
        var (height, width) = (images.shape[2], images.shape[3]);
        return height <= width
            ? Resize(images, shorterSide, (long)(shorterSide * (double)width / height), interpolation)
            : Resize(images, (long)(shorterSide * (double)height / width), shorterSide, interpolation);
    }

    /// <summary>
    /// The central <paramref name="height"/> × <paramref name="width"/> window, placed as torchvision's CenterCrop
    /// (offsets rounded half to even). The images must be at least that large.
    /// </summary>
    public static Tensor CenterCrop(Tensor images, long height, long width)
    {
        RequireBatch(images);
        var (inHeight, inWidth) = (images.shape[2], images.shape[3]);
        if (inHeight < height || inWidth < width)
            throw new ArgumentException($"A {height}×{width} centre crop does not fit in {inHeight}×{inWidth} images.", nameof(images));
        var top = (long)Math.Round((inHeight - height) / 2.0, MidpointRounding.ToEven);
        var left = (long)Math.Round((inWidth - width) / 2.0, MidpointRounding.ToEven);
        return images.narrow(2, top, height).narrow(3, left, width).contiguous();
    }

    /// <summary>
    /// The evaluation geometry (timm's eval transform, torchvision's Resize(int) then CenterCrop): the shorter side
    /// resized to <paramref name="shorterSide"/>, then the central <paramref name="cropSize"/>² window.
    /// </summary>
    public static Tensor ResizeAndCenterCrop(Tensor images, long shorterSide, long cropSize, ResizeInterpolation interpolation)
    {
        using var scope = NewDisposeScope();
        return CenterCrop(ResizeShorterSide(images, shorterSide, interpolation), cropSize, cropSize).MoveToOuterDisposeScope();
    }

    /// <summary><see cref="ResizeAndCenterCrop(Tensor, long, long, ResizeInterpolation)"/> of images of different
    /// sizes, each (C, H, W), stacked into one (N, C, size, size) batch.</summary>
    public static Tensor ResizeAndCenterCrop(IReadOnlyList<Tensor> images, long shorterSide, long cropSize, ResizeInterpolation interpolation)
    {
        using var scope = NewDisposeScope();
        var batch = cat(images.Select(image => ResizeAndCenterCrop(image.unsqueeze(0), shorterSide, cropSize, interpolation)).ToArray(), 0);
        return batch.MoveToOuterDisposeScope();
    }

    internal static void RequireBatch(Tensor images)
    {
        if (images.dim() != 4)
            throw new ArgumentException($"Expected an (N, C, H, W) batch, got shape [{string.Join(", ", images.shape)}].", nameof(images));
        if (!images.is_floating_point())
            throw new ArgumentException($"Expected floating-point images in [0, 1], got {images.dtype}.", nameof(images));
    }
}
