using ScaleKD.Torch.Training.Augmentation;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>RandAugment's policy: timm's level-to-argument table, the sampling of ops and magnitudes, batched application.</summary>
[Trait("Category", "Augmentation")]
public sealed class RandAugmentTests : TensorScopeTest
{
    [Theory]
    // timm's _RAND_INCREASING_TRANSFORMS at magnitude 9 (inc1), positive sign.
    [InlineData(RandAugmentOp.Rotate, true, 27.0)]
    [InlineData(RandAugmentOp.ShearX, true, 0.27)]
    [InlineData(RandAugmentOp.TranslateYRel, true, 0.405)]
    [InlineData(RandAugmentOp.Posterize, true, 1.0)] // 4 − int(3.6)
    [InlineData(RandAugmentOp.Solarize, true, 26.0)] // 256 − int(230.4)
    [InlineData(RandAugmentOp.SolarizeAdd, true, 99.0)] // int(99.0)
    [InlineData(RandAugmentOp.Color, true, 1.81)]
    [InlineData(RandAugmentOp.Sharpness, true, 1.81)]
    // The plain _RAND_TRANSFORMS at magnitude 9.
    [InlineData(RandAugmentOp.Posterize, false, 3.0)]
    [InlineData(RandAugmentOp.Solarize, false, 230.0)]
    [InlineData(RandAugmentOp.Contrast, false, 1.72)]
    public void ArgumentsAtMagnitude9AreTimms(RandAugmentOp op, bool increasing, double expected)
    {
        var randAugment = new RandAugment(new RandAugmentOptions { Increasing = increasing });
        Assert.Equal(expected, randAugment.Argument(op, 9, negate: false), 10);
    }

    [Fact]
    public void SignedOpsNegateAndIncreasingEnhanceFactorsStayAbove0Point1()
    {
        var randAugment = new RandAugment();
        Assert.Equal(-27.0, randAugment.Argument(RandAugmentOp.Rotate, 9, negate: true), 10);
        Assert.Equal(0.19, randAugment.Argument(RandAugmentOp.Brightness, 9, negate: true), 10);
        Assert.Equal(0.1, randAugment.Argument(RandAugmentOp.Brightness, 10, negate: true), 10);
        Assert.Equal(0.0, randAugment.Argument(RandAugmentOp.Posterize, 10, negate: false)); // 4 − 4 bits: all black
        Assert.Equal(256.0, randAugment.Argument(RandAugmentOp.Solarize, 0, negate: false)); // threshold 256: unchanged
        Assert.True(double.IsNaN(randAugment.Argument(RandAugmentOp.Equalize, 9, negate: false)));
    }

    [Fact]
    public void SamplingFollowsRandM9Mstd05()
    {
        var randAugment = new RandAugment();
        var plan = randAugment.Sample(3000, new AugmentationRandom(11));
        Assert.Equal(2, plan.Length);
        var choices = plan.SelectMany(layer => layer).ToArray();
        var applied = choices.Where(c => c.Applied).ToArray();
        Assert.InRange(applied.Length / (double)choices.Length, 0.47, 0.53);
        Assert.All(choices.Where(c => !c.Applied), c => Assert.True(double.IsNaN(c.Magnitude)));
        var magnitudes = applied.Select(c => c.Magnitude).ToArray();
        Assert.All(magnitudes, m => Assert.InRange(m, 0.0, 10.0));
        var mean = magnitudes.Average();
        var std = Math.Sqrt(magnitudes.Select(m => (m - mean) * (m - mean)).Average());
        Assert.InRange(mean, 8.96, 9.03); // N(9, 0.5²) clipped at 10 lowers the mean by about 0.004
        Assert.InRange(std, 0.46, 0.52);
        // Ops are drawn uniformly from all fifteen, with replacement.
        foreach (var op in RandAugment.Ops)
            Assert.InRange(choices.Count(c => c.Op == op) / (double)choices.Length, 1 / 15.0 - 0.015, 1 / 15.0 + 0.015);
        Assert.InRange(applied.Count(c => c.Op == RandAugmentOp.Rotate && c.Argument < 0) / (double)applied.Count(c => c.Op == RandAugmentOp.Rotate), 0.4, 0.6);
    }

    [Fact]
    public void FixedMagnitudeWithoutNoiseGivesFixedArguments()
    {
        var randAugment = new RandAugment(new RandAugmentOptions { MagnitudeStd = 0, Probability = 1 });
        var choices = randAugment.Sample(200, new AugmentationRandom(2)).SelectMany(layer => layer).ToArray();
        Assert.All(choices, c => Assert.True(c.Applied && c.Magnitude == 9));
        Assert.All(choices.Where(c => c.Op == RandAugmentOp.Rotate), c => Assert.Equal(27.0, Math.Abs(c.Argument), 10));
    }

    [Fact]
    public void BatchedApplicationEqualsApplyingEachImagesOpsOneByOne()
    {
        var images = AugmentationTestImages.Codes(8, 3, 24, 24, seed: 5);
        var randAugment = new RandAugment(new RandAugmentOptions { Probability = 0.8, Fill = [0.2, 0.4, 0.6] });
        var plan = randAugment.Sample(8, new AugmentationRandom(21));
        var batched = randAugment.Apply(images, plan);
        for (var i = 0; i < 8; i++)
        {
            var image = images.narrow(0, i, 1);
            foreach (var layer in plan)
                if (layer[i].Applied)
                    image = RandAugment.ApplyOp(image, layer[i].Op, [layer[i].Argument], [0.2, 0.4, 0.6]);
            Assert.True(AugmentationTestImages.MaxDifference(batched.narrow(0, i, 1), image) <= 1e-6, $"image {i}");
        }
        Assert.True(AugmentationTestImages.MaxDifference(batched, images) > 0.1);
        Assert.Equal(0.0, AugmentationTestImages.MaxDifference(images, AugmentationTestImages.Codes(8, 3, 24, 24, seed: 5))); // input untouched
    }

    [Fact]
    public void EveryOpKeepsShapeDtypeAndRange()
    {
        var randAugment = new RandAugment();
        foreach (var dtype in new[] { float32, float64 })
        {
            var images = AugmentationTestImages.Smooth(2, 3, 20).to(dtype);
            foreach (var op in RandAugment.Ops)
            {
                var output = RandAugment.ApplyOp(images, op, [randAugment.Argument(op, 9, negate: true)], RandAugment.DefaultFill);
                Assert.Equal(images.shape, output.shape);
                Assert.Equal(dtype, output.dtype);
                Assert.InRange(output.min().to(float64).item<double>(), 0.0, 1.0);
                Assert.InRange(output.max().to(float64).item<double>(), 0.0, 1.0);
            }
        }
    }

    [Fact]
    public void TheFillIsTimmsGrayAloneAndFollowsTheChannelCount()
    {
        Assert.Equal([128 / 255.0], new RandAugment().FillFor(3));
        var colour = new RandAugment(new RandAugmentOptions { Fill = [0.1, 0.2, 0.3] });
        Assert.Equal([0.1, 0.2, 0.3], colour.FillFor(3));
        Assert.Throws<ArgumentException>(() => colour.FillFor(2));
    }
}
