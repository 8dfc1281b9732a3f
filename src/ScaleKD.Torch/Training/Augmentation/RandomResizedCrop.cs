using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>
/// Crops each image to a random box of random area fraction and aspect ratio, then resizes it to a square: timm's
/// RandomResizedCropAndInterpolation (and torchvision's RandomResizedCrop) with its box sampling and fallback.
/// </summary>
public sealed class RandomResizedCrop
{
    /// <summary>A crop of <paramref name="size"/>² pixels with timm's defaults unless given.</summary>
    /// <param name="size">The output side length.</param>
    /// <param name="scale">The range of the box's area as a fraction of the image's; timm: (0.08, 1).</param>
    /// <param name="ratio">The range of the box's width / height; timm: (3/4, 4/3), sampled log-uniformly.</param>
    /// <param name="interpolation">How the box is resized.</param>
    public RandomResizedCrop(int size, (double Min, double Max)? scale = null, (double Min, double Max)? ratio = null,
        ResizeInterpolation interpolation = ResizeInterpolation.Bilinear)
    {
        if (size <= 0)
            throw new ArgumentOutOfRangeException(nameof(size), size, "The crop size must be positive.");
        Size = size;
        Scale = scale ?? (0.08, 1.0);
        Ratio = ratio ?? (3.0 / 4.0, 4.0 / 3.0);
        if (!(Scale.Min > 0 && Scale.Min <= Scale.Max))
            throw new ArgumentOutOfRangeException(nameof(scale), Scale, "The scale range must be positive and ordered (min, max).");
        if (!(Ratio.Min > 0 && Ratio.Min <= Ratio.Max))
            throw new ArgumentOutOfRangeException(nameof(ratio), Ratio, "The ratio range must be positive and ordered (min, max).");
        Interpolation = interpolation;
    }

    /// <summary>The output side length.</summary>
    public int Size { get; }

    /// <summary>The range of the box's area fraction.</summary>
    public (double Min, double Max) Scale { get; }

    /// <summary>The range of the box's aspect ratio (width / height).</summary>
    public (double Min, double Max) Ratio { get; }

    /// <summary>How the box is resized.</summary>
    public ResizeInterpolation Interpolation { get; }

    /// <summary>
    /// One box in a <paramref name="height"/> × <paramref name="width"/> image, as timm's get_params: up to ten tries of
    /// a uniform area fraction and a log-uniform ratio that fit, else the central box of the nearest allowed ratio.
    /// </summary>
    public CropBox SampleBox(int height, int width, AugmentationRandom random)
    {
        double area = (double)height * width;
        var logRatio = (Min: Math.Log(Ratio.Min), Max: Math.Log(Ratio.Max));
        for (var attempt = 0; attempt < 10; attempt++)
        {
            var targetArea = random.Uniform(Scale.Min, Scale.Max) * area;
            var aspect = Math.Exp(random.Uniform(logRatio.Min, logRatio.Max));
            // Python's round() is half-to-even; so is Math.Round's default.
            var boxWidth = (int)Math.Round(Math.Sqrt(targetArea * aspect));
            var boxHeight = (int)Math.Round(Math.Sqrt(targetArea / aspect));
            if (boxWidth > 0 && boxHeight > 0 && boxWidth <= width && boxHeight <= height)
                return new CropBox(random.NextInt(0, height - boxHeight), random.NextInt(0, width - boxWidth), boxHeight, boxWidth);
        }
        var imageRatio = (double)width / height;
        var (fallbackHeight, fallbackWidth) = imageRatio < Ratio.Min ? ((int)Math.Round(width / Ratio.Min), width)
            : imageRatio > Ratio.Max ? (height, (int)Math.Round(height * Ratio.Max))
            : (height, width);
        return new CropBox((height - fallbackHeight) / 2, (width - fallbackWidth) / 2, fallbackHeight, fallbackWidth);
    }

    /// <summary>Crops and resizes each image of an (N, C, H, W) batch with its own box; returns (N, C, Size, Size).</summary>
    public Tensor Apply(Tensor images, AugmentationRandom random)
    {
        ImageResize.RequireBatch(images);
        var boxes = new CropBox[images.shape[0]];
        for (var i = 0; i < boxes.Length; i++)
            boxes[i] = SampleBox((int)images.shape[2], (int)images.shape[3], random);
        return Apply(images, boxes);
    }

    /// <summary>Crops and resizes images of different sizes, each (C, H, W), into one (N, C, Size, Size) batch.</summary>
    public Tensor Apply(IReadOnlyList<Tensor> images, AugmentationRandom random)
    {
        using var scope = NewDisposeScope();
        var crops = new Tensor[images.Count];
        for (var i = 0; i < crops.Length; i++)
        {
            var image = images[i].unsqueeze(0);
            ImageResize.RequireBatch(image);
            crops[i] = Crop(image, SampleBox((int)image.shape[2], (int)image.shape[3], random));
        }
        return cat(crops, 0).MoveToOuterDisposeScope();
    }

    /// <summary>Crops and resizes image i of an (N, C, H, W) batch with <paramref name="boxes"/>[i].</summary>
    public Tensor Apply(Tensor images, IReadOnlyList<CropBox> boxes)
    {
        ImageResize.RequireBatch(images);
        if (boxes.Count != images.shape[0])
            throw new ArgumentException($"{boxes.Count} boxes for {images.shape[0]} images.", nameof(boxes));
        using var scope = NewDisposeScope();
        // One resize per image: each box has its own size, and resizing box by box keeps PIL's antialiasing, which a
        // single batched sampling grid would lose when shrinking.
        var crops = new Tensor[boxes.Count];
        for (var i = 0; i < crops.Length; i++)
            crops[i] = Crop(images.narrow(0, i, 1), boxes[i]);
        return cat(crops, 0).MoveToOuterDisposeScope();
    }

    Tensor Crop(Tensor image, CropBox box) =>
        ImageResize.Resize(image.narrow(2, box.Top, box.Height).narrow(3, box.Left, box.Width), Size, Size, Interpolation);
}
