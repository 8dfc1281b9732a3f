using ScaleKD.Torch.Training.Augmentation;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>Semantics of the single ops: identities, thresholds, bit masks and exact pixel moves.</summary>
[Trait("Category", "Augmentation")]
public sealed class PixelAndGeometricOpsTests : TensorScopeTest
{
    /// <summary>One 16 × 16 image per channel holding every code 0…255 once, in raster order.</summary>
    static Tensor AllCodes(int channels = 1) => (arange(256, float32) / 255.0f).view(1, 1, 16, 16).expand(1, channels, 16, 16).contiguous();

    static double[] CodesOf(Tensor images) =>
        (images * 255).round().to(float64).flatten().data<double>().ToArray();

    [Fact]
    public void InvertingTwiceGivesTheImageBack()
    {
        var images = AugmentationTestImages.Smooth(2, 3, 32);
        var twice = PixelLevelOps.Invert(PixelLevelOps.Invert(images));
        Assert.True(AugmentationTestImages.MaxDifference(images, twice) <= 1e-6);
        Assert.Equal(1.0, AugmentationTestImages.MaxDifference(PixelLevelOps.Invert(zeros(1, 1, 2, 2)), zeros(1, 1, 2, 2)));
    }

    [Fact]
    public void EqualizingAnAlreadyUniformHistogramChangesNothing()
    {
        // Every code once: PIL's step (256 − 1) // 255 = 1 maps code i to the count below it, i.e. to itself.
        var uniform = AllCodes(3);
        Assert.Equal(0.0, AugmentationTestImages.MaxDifference(PixelLevelOps.Equalize(uniform), uniform));
        // A shuffled uniform image is also unchanged: only the histogram matters.
        using var generator = new Generator(3);
        var shuffled = uniform.flatten(2).index_select(2, randperm(256, generator: generator)).view(1, 3, 16, 16);
        Assert.Equal(0.0, AugmentationTestImages.MaxDifference(PixelLevelOps.Equalize(shuffled), shuffled));
    }

    [Fact]
    public void EqualizeSpreadsAFewLevelsAndClipsItsTableAt255AsPil()
    {
        // 300 × code 0, 400 × 100, 299 × 200: step = (999 − 299) // 255 = 2, table: 0 ↦ 0, 100 ↦ (1 + 300) // 2 = 150,
        // 200 ↦ (1 + 700) // 2 = 350, which PIL clips to 255 (checked with PIL 9.4).
        var codes = new float[999];
        Array.Fill(codes, 100f, 300, 400);
        Array.Fill(codes, 200f, 700, 299);
        var image = tensor(codes).view(1, 1, 1, 999) / 255.0f;
        Assert.Equal([0.0, 150.0, 255.0], CodesOf(PixelLevelOps.Equalize(image)).Distinct().Order());
        // A single level has nothing to spread; equalize returns codes, so 0.5 comes back as its nearest code 128.
        var flat = full(1, 3, 4, 4, 0.5f);
        Assert.Equal(0.0, AugmentationTestImages.MaxDifference(PixelLevelOps.Equalize(flat), full(1, 3, 4, 4, 128 / 255.0f)));
    }

    [Fact]
    public void SolarizeInvertsExactlyTheCodesAtOrAboveTheThreshold()
    {
        var codes = CodesOf(PixelLevelOps.Solarize(AllCodes(), [128]));
        for (var i = 0; i < 256; i++)
            Assert.Equal(i < 128 ? i : 255 - i, codes[i]);
        Assert.Equal(CodesOf(AllCodes()), CodesOf(PixelLevelOps.Solarize(AllCodes(), [256])));
        Assert.Equal(CodesOf(PixelLevelOps.Invert(AllCodes())), CodesOf(PixelLevelOps.Solarize(AllCodes(), [0])));
    }

    [Fact]
    public void SolarizeAddRaisesOnlyCodesBelow128AndSaturates()
    {
        var codes = CodesOf(PixelLevelOps.SolarizeAdd(AllCodes(), [99]));
        for (var i = 0; i < 256; i++)
            Assert.Equal(i < 128 ? Math.Min(255, i + 99) : i, codes[i]);
    }

    [Fact]
    public void PosterizeKeepsTheMostSignificantBits()
    {
        foreach (var bits in new[] { 0, 1, 3, 7, 8 })
        {
            var codes = CodesOf(PixelLevelOps.Posterize(AllCodes(), [bits]));
            var mask = ~((1 << (8 - bits)) - 1) & 0xFF;
            for (var i = 0; i < 256; i++)
                Assert.Equal(i & mask, codes[i]);
        }
    }

    [Fact]
    public void PerImageArgumentsApplyToTheirOwnImage()
    {
        var images = AllCodes().expand(3, 1, 16, 16).contiguous();
        var both = PixelLevelOps.Posterize(images, [1, 4, 8]);
        for (var i = 0; i < 3; i++)
            Assert.Equal(CodesOf(PixelLevelOps.Posterize(images[i].unsqueeze(0), [new[] { 1.0, 4, 8 }[i]])), CodesOf(both[i]));
        Assert.Throws<ArgumentException>(() => PixelLevelOps.Posterize(images, [1, 2]));
    }

    [Fact]
    public void AutoContrastStretchesEachChannelToTheFullRangeAndLeavesFlatChannels()
    {
        var images = AugmentationTestImages.Smooth(2, 3, 32) * 0.5 + 0.2;
        images[0, 1] = full(32, 32, 0.4f);
        var stretched = PixelLevelOps.AutoContrast(images);
        var low = stretched.amin([2, 3]);
        var high = stretched.amax([2, 3]);
        Assert.Equal(0.4, stretched[0, 1].max().item<float>(), 6); // flat channel unchanged
        Assert.Equal(0.0, low[0, 0].item<float>(), 6);
        Assert.Equal(1.0, high[1, 2].item<float>(), 6);
    }

    [Fact]
    public void EnhanceFactorOneIsTheIdentityAndColorZeroIsGray()
    {
        var images = AugmentationTestImages.Smooth(2, 3, 32);
        foreach (var op in new Func<Tensor, IReadOnlyList<double>, Tensor>[] { EnhanceOps.Color, EnhanceOps.Contrast, EnhanceOps.Brightness, EnhanceOps.Sharpness })
            Assert.True(AugmentationTestImages.MaxDifference(op(images, [1.0]), images) <= 1e-6);
        var gray = EnhanceOps.Color(images, [0.0]);
        Assert.True(AugmentationTestImages.MaxDifference(gray, EnhanceOps.Gray(images).expand(2, 3, 32, 32)) <= 1e-6);
        Assert.Equal(0.0, EnhanceOps.Brightness(images, [0.0]).abs().max().item<float>());
    }

    [Fact]
    public void RotatingByZeroOrAFullTurnIsTheIdentity()
    {
        var images = AugmentationTestImages.Smooth(2, 3, 32);
        var fill = new[] { 0.5 };
        foreach (var degrees in new[] { 0.0, -0.0, 360.0, -720.0 })
        {
            var rotated = RandAugment.ApplyOp(images, RandAugmentOp.Rotate, [degrees], fill);
            Assert.True(AugmentationTestImages.MaxDifference(rotated, images) <= 1e-6, $"rotation by {degrees}°");
        }
        // RandAugment's magnitude 0 maps every geometric op to the identity.
        var randAugment = new RandAugment();
        foreach (var op in new[] { RandAugmentOp.Rotate, RandAugmentOp.ShearX, RandAugmentOp.ShearY, RandAugmentOp.TranslateXRel, RandAugmentOp.TranslateYRel })
        {
            var argument = randAugment.Argument(op, 0, negate: true);
            Assert.True(AugmentationTestImages.MaxDifference(RandAugment.ApplyOp(images, op, [argument], fill), images) <= 1e-6, op.ToString());
        }
    }

    [Fact]
    public void RotatingASquareBy90DegreesTurnsItCounterClockwiseWithoutResampling()
    {
        var images = AugmentationTestImages.Codes(2, 3, 16, 16);
        var rotated = RandAugment.ApplyOp(images, RandAugmentOp.Rotate, [90], [0.5]);
        Assert.True(AugmentationTestImages.MaxDifference(rotated, images.rot90(1, (2, 3))) <= 1e-5);
    }

    [Fact]
    public void TranslatingByWholePixelsMovesPixelsExactlyAndFillsTheGap()
    {
        var images = AugmentationTestImages.Codes(1, 3, 16, 16);
        var fill = new[] { 0.1, 0.2, 0.3 };
        // 0.25 of 16 pixels: output column x shows input column x + 4; the last four columns show the fill.
        var moved = RandAugment.ApplyOp(images, RandAugmentOp.TranslateXRel, [0.25], fill);
        Assert.True(AugmentationTestImages.MaxDifference(moved[.., .., .., ..12], images[.., .., .., 4..]) <= 1e-5);
        for (var c = 0; c < 3; c++)
            Assert.True(AugmentationTestImages.MaxDifference(moved[0, c, .., 12..], full(16, 4, fill[c])) <= 1e-6);
        var down = RandAugment.ApplyOp(images, RandAugmentOp.TranslateYRel, [-0.25], fill);
        Assert.True(AugmentationTestImages.MaxDifference(down[.., .., 4.., ..], images[.., .., ..12, ..]) <= 1e-5);
    }

    [Fact]
    public void EachImageIsWarpedWithItsOwnMatrix()
    {
        var images = AugmentationTestImages.Smooth(3, 3, 24);
        double[][] matrices = [AffineWarp.Rotation(20, 24, 24), AffineWarp.ShearX(-0.2), AffineWarp.Translation(3.5, -2)];
        var together = AffineWarp.Apply(images, matrices, [0.5]);
        for (var i = 0; i < 3; i++)
        {
            var alone = AffineWarp.Apply(images.narrow(0, i, 1), [matrices[i]], [0.5]);
            Assert.True(AugmentationTestImages.MaxDifference(together.narrow(0, i, 1), alone) <= 1e-6);
        }
    }
}
