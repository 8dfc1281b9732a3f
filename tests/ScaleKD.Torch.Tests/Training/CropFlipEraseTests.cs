using ScaleKD.Torch.Training.Augmentation;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>Random-resized crop, horizontal flip and random erasing: box statistics and exact pixel semantics.</summary>
[Trait("Category", "Augmentation")]
public sealed class CropFlipEraseTests : TensorScopeTest
{
    [Fact]
    public void AFullSquareCropIsAPlainResize()
    {
        var images = AugmentationTestImages.Codes(3, 3, 40, 40);
        var crop = new RandomResizedCrop(32, scale: (1, 1), ratio: (1, 1));
        var cropped = crop.Apply(images, new AugmentationRandom(4));
        var resized = ImageResize.Resize(images, 32, 32, ResizeInterpolation.Bilinear);
        Assert.Equal(0.0, AugmentationTestImages.MaxDifference(cropped, resized));
    }

    [Fact]
    public void CropBoxesFitAndFollowTheScaleAndRatioRanges()
    {
        var crop = new RandomResizedCrop(32);
        var random = new AugmentationRandom(9);
        var boxes = Enumerable.Range(0, 2000).Select(_ => crop.SampleBox(48, 40, random)).ToArray();
        Assert.All(boxes, b => Assert.True(b.Top >= 0 && b.Left >= 0 && b.Top + b.Height <= 48 && b.Left + b.Width <= 40 && b.Height > 0 && b.Width > 0));
        var areas = boxes.Select(b => b.Height * b.Width / (48.0 * 40)).ToArray();
        Assert.InRange(areas.Min(), 0.06, 0.12); // 0.08 up to rounding of the sides
        Assert.InRange(areas.Max(), 0.9, 1.0);
        Assert.All(boxes, b => Assert.InRange(b.Width / (double)b.Height, 0.6, 1.6)); // 3/4 … 4/3 up to rounding
        Assert.True(boxes.Select(b => b.Top).Distinct().Count() > 5 && boxes.Select(b => b.Left).Distinct().Count() > 5);
    }

    [Fact]
    public void CropsOfImagesOfDifferentSizesMakeOneBatch()
    {
        var crop = new RandomResizedCrop(16);
        Tensor[] images = [AugmentationTestImages.Codes(1, 3, 30, 20)[0], AugmentationTestImages.Codes(1, 3, 17, 45)[0]];
        var batch = crop.Apply(images, new AugmentationRandom(1));
        Assert.Equal([2L, 3, 16, 16], batch.shape);
    }

    [Fact]
    public void FlipMirrorsExactlyTheChosenImages()
    {
        var images = AugmentationTestImages.Codes(4, 3, 8, 8);
        var flipped = HorizontalFlip.Apply(images, [true, false, true, false]);
        Assert.Equal(0.0, AugmentationTestImages.MaxDifference(flipped[0], images[0].flip(2)));
        Assert.Equal(0.0, AugmentationTestImages.MaxDifference(flipped[1], images[1]));
        var decisions = new HorizontalFlip().Sample(4000, new AugmentationRandom(3));
        Assert.InRange(decisions.Count(d => d) / 4000.0, 0.47, 0.53);
        Assert.DoesNotContain(true, new HorizontalFlip(0).Sample(100, new AugmentationRandom(3)));
    }

    [Fact]
    public void AboutAQuarterOfTheImagesAreErasedWithBoxesInTimmsRanges()
    {
        var erasing = new RandomErasing(0.25);
        var boxes = erasing.Sample(8000, 32, 32, new AugmentationRandom(17));
        var erased = boxes.Where(b => b.Length > 0).ToArray();
        // Binomial(8000, 0.25) has a standard deviation of 0.005 in the fraction; a few boxes fail their ten tries.
        Assert.InRange(erased.Length / 8000.0, 0.23, 0.27);
        Assert.All(erased, b => Assert.Single(b));
        var areas = erased.Select(b => b[0].Height * b[0].Width / 1024.0).ToArray();
        Assert.InRange(areas.Min(), 0.01, 0.03);
        Assert.InRange(areas.Max(), 0.3, 0.36);
        Assert.All(erased, b => Assert.True(b[0].Height < 32 && b[0].Width < 32 && b[0].Top + b[0].Height <= 32 && b[0].Left + b[0].Width <= 32));
        var aspects = erased.Select(b => Math.Log(b[0].Height / (double)b[0].Width)).ToArray();
        Assert.True(aspects.Min() < -0.8 && aspects.Max() > 0.8); // log 0.3 = −1.2 … log 3.33 = 1.2
    }

    [Fact]
    public void ErasingReplacesOnlyTheBoxWithStandardNormalNoise()
    {
        var normalized = AugmentationTestImages.Codes(2, 3, 32, 32) * 10 + 5; // far from N(0, 1)
        var box = new CropBox(4, 6, 20, 18);
        using var generator = new Generator(5);
        var erased = new RandomErasing(mode: ErasingMode.Pixel).Apply(normalized, [[box], []], generator);
        var inside = erased[0, .., 4..24, 6..24];
        Assert.InRange(inside.mean().item<float>(), -0.1, 0.1);
        Assert.InRange(inside.std().item<float>(), 0.9, 1.1);
        var outside = erased.clone();
        outside[0, .., 4..24, 6..24] = normalized[0, .., 4..24, 6..24];
        Assert.Equal(0.0, AugmentationTestImages.MaxDifference(outside, normalized));
        using var unused = new Generator(5);
        var constant = new RandomErasing(mode: ErasingMode.Constant).Apply(normalized, [[box], []], unused);
        Assert.Equal(0.0, constant[0, .., 4..24, 6..24].abs().max().item<float>());
    }
}
