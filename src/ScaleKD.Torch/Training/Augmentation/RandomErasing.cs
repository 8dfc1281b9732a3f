using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>
/// timm's RandomErasing for a normalised (N, C, H, W) batch: each image, with a probability, has boxes of random area
/// and aspect ratio replaced by noise. It runs after normalisation, as in timm, so noise ~ N(0, 1) matches the data's
/// scale.
/// </summary>
public sealed class RandomErasing
{
    /// <summary>Erasing with timm's defaults unless given; the ScaleKD recipe uses probability 0.25 and <see cref="ErasingMode.Pixel"/>.</summary>
    /// <param name="probability">The probability that an image is erased at all.</param>
    /// <param name="minArea">The smallest box area as a fraction of the image (0.02).</param>
    /// <param name="maxArea">The largest box area as a fraction of the image (1/3).</param>
    /// <param name="minAspect">The smallest height / width ratio (0.3), sampled log-uniformly.</param>
    /// <param name="maxAspect">The largest ratio; by default 1 / <paramref name="minAspect"/>.</param>
    /// <param name="mode">The fill.</param>
    /// <param name="minCount">The fewest boxes per erased image (1).</param>
    /// <param name="maxCount">The most boxes per erased image; by default <paramref name="minCount"/>. Each box's area shrinks by the count drawn.</param>
    public RandomErasing(double probability = 0.5, double minArea = 0.02, double maxArea = 1.0 / 3.0, double minAspect = 0.3,
        double? maxAspect = null, ErasingMode mode = ErasingMode.Pixel, int minCount = 1, int? maxCount = null)
    {
        if (probability is < 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "A probability lies in [0, 1].");
        if (!(minArea > 0 && minArea <= maxArea && maxArea <= 1))
            throw new ArgumentOutOfRangeException(nameof(minArea), "The area range must satisfy 0 < min ≤ max ≤ 1.");
        var largestAspect = maxAspect ?? 1.0 / minAspect;
        if (!(minAspect > 0 && minAspect <= largestAspect))
            throw new ArgumentOutOfRangeException(nameof(minAspect), "The aspect range must be positive and ordered.");
        if (minCount < 1 || (maxCount ?? minCount) < minCount)
            throw new ArgumentOutOfRangeException(nameof(minCount), "Box counts must satisfy 1 ≤ min ≤ max.");
        Probability = probability;
        Area = (minArea, maxArea);
        LogAspect = (Math.Log(minAspect), Math.Log(largestAspect));
        Mode = mode;
        Count = (minCount, maxCount ?? minCount);
    }

    /// <summary>The probability that an image is erased.</summary>
    public double Probability { get; }

    /// <summary>The range of a box's area fraction (before division by the box count).</summary>
    public (double Min, double Max) Area { get; }

    /// <summary>The range of the log of a box's height / width.</summary>
    public (double Min, double Max) LogAspect { get; }

    /// <summary>The fill.</summary>
    public ErasingMode Mode { get; }

    /// <summary>The range of boxes per erased image.</summary>
    public (int Min, int Max) Count { get; }

    /// <summary>
    /// The boxes of each image of a batch of <paramref name="count"/> (empty for an image left alone), as timm's _erase:
    /// per box up to ten tries of an area and a ratio whose box fits strictly inside the image.
    /// </summary>
    public CropBox[][] Sample(int count, int height, int width, AugmentationRandom random)
    {
        var boxes = new CropBox[count][];
        double area = (double)height * width;
        for (var i = 0; i < count; i++)
        {
            // timm erases unless random() > probability.
            if (random.NextDouble() > Probability)
            {
                boxes[i] = [];
                continue;
            }
            var boxCount = Count.Min == Count.Max ? Count.Min : random.NextInt(Count.Min, Count.Max);
            var found = new List<CropBox>(boxCount);
            for (var b = 0; b < boxCount; b++)
            {
                for (var attempt = 0; attempt < 10; attempt++)
                {
                    var targetArea = random.Uniform(Area.Min, Area.Max) * area / boxCount;
                    var aspect = Math.Exp(random.Uniform(LogAspect.Min, LogAspect.Max));
                    var boxHeight = (int)Math.Round(Math.Sqrt(targetArea * aspect));
                    var boxWidth = (int)Math.Round(Math.Sqrt(targetArea / aspect));
                    if (boxWidth < width && boxHeight < height)
                    {
                        found.Add(new CropBox(random.NextInt(0, height - boxHeight), random.NextInt(0, width - boxWidth), boxHeight, boxWidth));
                        break;
                    }
                }
            }
            boxes[i] = [.. found];
        }
        return boxes;
    }

    /// <summary>Draws and applies erasing; noise comes from a generator on the batch's device seeded from <paramref name="random"/>.</summary>
    public Tensor Apply(Tensor normalized, AugmentationRandom random)
    {
        var boxes = Sample((int)normalized.shape[0], (int)normalized.shape[2], (int)normalized.shape[3], random);
        if (boxes.All(b => b.Length == 0))
            return normalized.clone();
        using var generator = random.CreateGenerator(normalized.device);
        return Apply(normalized, boxes, generator);
    }

    /// <summary>Fills <paramref name="boxes"/>[i] of image i with this mode's fill, drawing noise from <paramref name="generator"/>.</summary>
    public Tensor Apply(Tensor normalized, IReadOnlyList<IReadOnlyList<CropBox>> boxes, Generator generator)
    {
        ImageResize.RequireBatch(normalized);
        if (boxes.Count != normalized.shape[0])
            throw new ArgumentException($"{boxes.Count} box lists for {normalized.shape[0]} images.", nameof(boxes));
        var channels = normalized.shape[1];
        using var scope = NewDisposeScope();
        var erased = normalized.clone();
        for (var i = 0; i < boxes.Count; i++)
        {
            foreach (var box in boxes[i])
            {
                var region = erased[i].narrow(1, box.Top, box.Height).narrow(2, box.Left, box.Width);
                var fill = Mode switch
                {
                    ErasingMode.Pixel => randn([channels, box.Height, box.Width], normalized.dtype, normalized.device, generator: generator),
                    ErasingMode.RandomColor => randn([channels, 1, 1], normalized.dtype, normalized.device, generator: generator),
                    _ => zeros([channels, 1, 1], normalized.dtype, normalized.device),
                };
                region.copy_(fill.expand_as(region));
            }
        }
        return erased.MoveToOuterDisposeScope();
    }
}
