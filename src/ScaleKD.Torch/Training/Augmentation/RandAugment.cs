using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>
/// timm's RandAugment on (N, C, H, W) images in [0, 1], each image with its own ops, magnitudes and signs. Images that
/// drew the same op in the same layer are processed together, so the cost grows with the number of ops, not images.
/// </summary>
public sealed class RandAugment
{
    /// <summary>timm's _FILL: the gray that geometric ops leave behind when no fill is configured.</summary>
    public static IReadOnlyList<double> DefaultFill { get; } = [128 / 255.0];

    /// <summary>RandAugment with the given settings (see <see cref="RandAugmentOptions"/> for the defaults).</summary>
    public RandAugment(RandAugmentOptions? options = null)
    {
        Options = options ?? new RandAugmentOptions();
        Options.Validate();
    }

    /// <summary>The settings.</summary>
    public RandAugmentOptions Options { get; }

    /// <summary>The ops drawn from, in timm's order.</summary>
    public static IReadOnlyList<RandAugmentOp> Ops { get; } = Enum.GetValues<RandAugmentOp>();

    /// <summary>Draws the choices of every layer for a batch of <paramref name="count"/> images: result[layer][image].</summary>
    public RandAugmentChoice[][] Sample(int count, AugmentationRandom random)
    {
        var plan = new RandAugmentChoice[Options.OpsPerImage][];
        for (var layer = 0; layer < plan.Length; layer++)
        {
            plan[layer] = new RandAugmentChoice[count];
            for (var i = 0; i < count; i++)
                plan[layer][i] = SampleOne(random);
        }
        return plan;
    }

    RandAugmentChoice SampleOne(AugmentationRandom random)
    {
        // timm: np.random.choice(ops, n, replace=True), then each op returns the image unless random() <= p.
        var op = Ops[random.NextInt(0, Ops.Count - 1)];
        if (random.NextDouble() > Options.Probability)
            return new RandAugmentChoice(op, false, double.NaN, double.NaN);
        var magnitude = Options.MagnitudeStd switch
        {
            0 => Options.Magnitude,
            double.PositiveInfinity => random.Uniform(0, Options.Magnitude),
            _ => random.Gaussian(Options.Magnitude, Options.MagnitudeStd),
        };
        magnitude = Math.Max(0.0, Math.Min(magnitude, Options.MagnitudeMax));
        // timm's _randomly_negate: negative when random() > 0.5. Drawn for every applied op to keep the stream simple.
        var negate = random.NextDouble() > 0.5;
        return new RandAugmentChoice(op, true, magnitude, Argument(op, magnitude, negate));
    }

    /// <summary>
    /// The argument of <paramref name="op"/> at <paramref name="magnitude"/> (0–10), timm's level-to-argument functions
    /// for this policy: rotate ±30·m/10 degrees; shear ±0.3·m/10; translate ±fraction·m/10; posterize
    /// 4 − ⌊4m/10⌋ bits (increasing) or ⌊4m/10⌋; solarize 256 − min(256, ⌊256m/10⌋) (increasing) or min(256, ⌊256m/10⌋);
    /// solarize-add min(128, ⌊110m/10⌋); enhance factors max(0.1, 1 ± 0.9m/10) (increasing) or 0.1 + 1.8m/10; NaN for
    /// ops without one. <paramref name="negate"/> picks the sign where timm draws one.
    /// </summary>
    public double Argument(RandAugmentOp op, double magnitude, bool negate)
    {
        var level = magnitude / RandAugmentOptions.LevelDenominator;
        double Signed(double value) => negate ? -value : value;
        return op switch
        {
            RandAugmentOp.AutoContrast or RandAugmentOp.Equalize or RandAugmentOp.Invert => double.NaN,
            RandAugmentOp.Rotate => Signed(level * 30.0),
            RandAugmentOp.ShearX or RandAugmentOp.ShearY => Signed(level * 0.3),
            RandAugmentOp.TranslateXRel or RandAugmentOp.TranslateYRel => Signed(level * Options.TranslateFraction),
            RandAugmentOp.Posterize => Options.Increasing ? 4 - Math.Floor(level * 4) : Math.Floor(level * 4),
            RandAugmentOp.Solarize => Options.Increasing ? 256 - Math.Min(256, Math.Floor(level * 256)) : Math.Min(256, Math.Floor(level * 256)),
            RandAugmentOp.SolarizeAdd => Math.Min(128, Math.Floor(level * 110)),
            RandAugmentOp.Color or RandAugmentOp.Contrast or RandAugmentOp.Brightness or RandAugmentOp.Sharpness =>
                Options.Increasing ? Math.Max(0.1, 1.0 + Signed(level * 0.9)) : level * 1.8 + 0.1,
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
        };
    }

    /// <summary>Draws and applies RandAugment to a batch.</summary>
    public Tensor Apply(Tensor images, AugmentationRandom random) => Apply(images, Sample((int)images.shape[0], random));

    /// <summary>Applies drawn choices, <paramref name="plan"/>[layer][image], layer after layer.</summary>
    public Tensor Apply(Tensor images, IReadOnlyList<IReadOnlyList<RandAugmentChoice>> plan)
    {
        ImageResize.RequireBatch(images);
        var count = (int)images.shape[0];
        if (plan.Any(layer => layer.Count != count))
            throw new ArgumentException($"Every layer of the plan needs one choice per image ({count}).", nameof(plan));
        var fill = FillFor((int)images.shape[1]);
        using var scope = NewDisposeScope();
        var current = images.clone();
        foreach (var layer in plan)
        {
            foreach (var op in Ops)
            {
                var members = Enumerable.Range(0, count).Where(i => layer[i].Applied && layer[i].Op == op).ToArray();
                if (members.Length == 0)
                    continue;
                var index = tensor(members.Select(i => (long)i).ToArray(), device: images.device);
                var arguments = members.Select(i => layer[i].Argument).ToArray();
                var changed = ApplyOp(current.index_select(0, index), op, arguments, fill);
                current = current.index_copy(0, index, changed);
            }
        }
        return current.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// One op with one argument per image (see <see cref="Argument"/>; ignored by ops without one) and a fill colour
    /// for the geometric ops.
    /// </summary>
    public static Tensor ApplyOp(Tensor images, RandAugmentOp op, IReadOnlyList<double> arguments, IReadOnlyList<double> fill)
    {
        ImageResize.RequireBatch(images);
        var (height, width) = ((int)images.shape[2], (int)images.shape[3]);
        IReadOnlyList<double[]> Matrices(Func<double, double[]> matrix) => arguments.Select(matrix).ToArray();
        return op switch
        {
            RandAugmentOp.AutoContrast => PixelLevelOps.AutoContrast(images),
            RandAugmentOp.Equalize => PixelLevelOps.Equalize(images),
            RandAugmentOp.Invert => PixelLevelOps.Invert(images),
            RandAugmentOp.Posterize => PixelLevelOps.Posterize(images, arguments),
            RandAugmentOp.Solarize => PixelLevelOps.Solarize(images, arguments),
            RandAugmentOp.SolarizeAdd => PixelLevelOps.SolarizeAdd(images, arguments),
            RandAugmentOp.Color => EnhanceOps.Color(images, arguments),
            RandAugmentOp.Contrast => EnhanceOps.Contrast(images, arguments),
            RandAugmentOp.Brightness => EnhanceOps.Brightness(images, arguments),
            RandAugmentOp.Sharpness => EnhanceOps.Sharpness(images, arguments),
            RandAugmentOp.Rotate => AffineWarp.Apply(images, Matrices(degrees => AffineWarp.Rotation(degrees, width, height)), fill),
            RandAugmentOp.ShearX => AffineWarp.Apply(images, Matrices(AffineWarp.ShearX), fill),
            RandAugmentOp.ShearY => AffineWarp.Apply(images, Matrices(AffineWarp.ShearY), fill),
            RandAugmentOp.TranslateXRel => AffineWarp.Apply(images, Matrices(fraction => AffineWarp.Translation(fraction * width, 0)), fill),
            RandAugmentOp.TranslateYRel => AffineWarp.Apply(images, Matrices(fraction => AffineWarp.Translation(0, fraction * height)), fill),
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
        };
    }

    /// <summary>
    /// The fill for <paramref name="channels"/>-channel images: the configured colour (or <see cref="DefaultFill"/>)
    /// if it has one value or one per channel; for a 1-channel image and a 3-value colour, its luma rounded to a code,
    /// the value PIL's convert("L") gives that colour.
    /// </summary>
    public IReadOnlyList<double> FillFor(int channels)
    {
        var fill = Options.Fill ?? DefaultFill;
        if (fill.Count == 1 || fill.Count == channels)
            return fill;
        if (channels == 1 && fill.Count == 3)
            return [Math.Round(255 * (0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2])) / 255];
        throw new ArgumentException($"A {fill.Count}-value fill colour does not suit {channels}-channel images.", nameof(channels));
    }
}
