using ScaleKD.Torch.Training.Augmentation;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>The composed training and evaluation transforms: reproducibility, shapes, channel rules, the switch-off.</summary>
[Trait("Category", "Augmentation")]
public sealed class TrainAndEvalTransformTests : TensorScopeTest
{
    static readonly AugmentationOptions Small = new() { ImageSize = 32 };

    static bool Identical(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();

    [Fact]
    public void TheDefaultsAreTheScaleKDAdvancedRecipe()
    {
        var options = new AugmentationOptions();
        Assert.Equal((224, 0.08, 1.0, 0.75, 4.0 / 3.0, 0.5, 0.25, ErasingMode.Pixel, ResizeInterpolation.Bilinear, 0.875),
            (options.ImageSize, options.CropScaleMin, options.CropScaleMax, options.CropRatioMin, options.CropRatioMax,
             options.HorizontalFlipProbability, options.ErasingProbability, options.ErasingMode, options.Interpolation, options.EffectiveEvalCropFraction));
        var randAugment = options.RandAugment!;
        Assert.Equal((2, 9.0, 0.5, 10.0, 0.5, true), (randAugment.OpsPerImage, randAugment.Magnitude, randAugment.MagnitudeStd,
            randAugment.MagnitudeMax, randAugment.Probability, randAugment.Increasing));
        Assert.Equal([124 / 255.0, 116 / 255.0, 104 / 255.0], options.RandAugmentFill); // timm's img_mean from ImageNet's mean
        Assert.Equal(1.0, new AugmentationOptions { ImageSize = 28 }.EffectiveEvalCropFraction);
    }

    [Fact]
    public void TheSameSeedEpochAndBatchGiveABitIdenticalBatch()
    {
        var images = AugmentationTestImages.Codes(4, 3, 40, 40);
        var augmentation = new TrainAugmentation(Small);
        var first = augmentation.Apply(images, seed: 7, epoch: 2, batchIndex: 5);
        // Drawing other batches in between must not matter: a resumed run re-creates batch 5 directly.
        for (var b = 0; b < 3; b++)
            augmentation.Apply(images, seed: 7, epoch: 2, batchIndex: b);
        var again = augmentation.Apply(images, seed: 7, epoch: 2, batchIndex: 5);
        Assert.True(Identical(first, again));
        Assert.False(Identical(first, augmentation.Apply(images, seed: 8, epoch: 2, batchIndex: 5)));
        Assert.False(Identical(first, augmentation.Apply(images, seed: 7, epoch: 3, batchIndex: 5)));
        Assert.False(Identical(first, augmentation.Apply(images, seed: 7, epoch: 2, batchIndex: 6)));
    }

    [Fact]
    public void BatchStreamsAreDistinctAcrossSeedsEpochsAndBatches()
    {
        var firstDraws = new HashSet<ulong>();
        for (var seed = 0; seed < 4; seed++)
            for (var epoch = 0; epoch < 4; epoch++)
                for (var batch = 0; batch < 4; batch++)
                    firstDraws.Add(AugmentationRandom.ForBatch(seed, epoch, batch).NextUInt64());
        Assert.Equal(64, firstDraws.Count);
        Assert.Equal(AugmentationRandom.ForBatch(1, 2, 3).NextUInt64(), AugmentationRandom.ForBatch(1, 2, 3).NextUInt64());
    }

    [Fact]
    public void OutputsHaveTheTargetSizeTheInputDtypeAndTheNormalisedChannelCount()
    {
        var augmentation = new TrainAugmentation(Small);
        var rgb = augmentation.Apply(AugmentationTestImages.Codes(3, 3, 48, 40).to(float64), new AugmentationRandom(1));
        Assert.Equal([3L, 3, 32, 32], rgb.shape);
        Assert.Equal(float64, rgb.dtype);
        Assert.Equal(DeviceType.CPU, rgb.device_type);
        // A grayscale batch with ImageNet's statistics becomes R = G = B, normalised per channel.
        var gray = AugmentationTestImages.Codes(2, 1, 28, 28);
        Assert.Equal([2L, 3, 32, 32], augmentation.Apply(gray, new AugmentationRandom(1)).shape);
        // With one-channel statistics it stays one channel.
        var grayModel = new TrainAugmentation(Small with { Mean = [0.286], Std = [0.353] });
        Assert.Equal([2L, 1, 32, 32], grayModel.Apply(gray, new AugmentationRandom(1)).shape);
    }

    [Fact]
    public void SwitchedOffTrainingIsResizeCropAndNormalise()
    {
        var images = AugmentationTestImages.Codes(2, 3, 40, 48);
        var options = AugmentationOptions.Disabled(32);
        var plain = new TrainAugmentation(options).Apply(images, new AugmentationRandom(99));
        var expected = new Normalize(options.Mean, options.Std).Apply(
            ImageResize.CenterCrop(ImageResize.Resize(images, 32, 38, ResizeInterpolation.Bilinear), 32, 32));
        Assert.Equal(0.0, AugmentationTestImages.MaxDifference(plain, expected));
        Assert.True(Identical(plain, new TrainAugmentation(options).Apply(images, new AugmentationRandom(5))));
    }

    [Fact]
    public void EvaluatingA28PixelImageAtSize28OnlyNormalisesIt()
    {
        var images = AugmentationTestImages.Codes(2, 1, 28, 28);
        var options = new AugmentationOptions { ImageSize = 28, Mean = [0.286], Std = [0.353] };
        var evaluated = new EvalTransform(options).Apply(images);
        Assert.True(AugmentationTestImages.MaxDifference(evaluated, (images - 0.286) / 0.353) <= 1e-6);
    }

    [Fact]
    public void EvaluationResizesTheShorterSideToSizeOverCropFractionThenCropsTheCentre()
    {
        var options = new AugmentationOptions { ImageSize = 28, EvalCropFraction = 0.875 };
        var evaluation = new EvalTransform(options);
        Assert.Equal(32, evaluation.ResizeSize); // ⌊28 / 0.875⌋
        var images = AugmentationTestImages.Smooth(2, 3, 40);
        var expected = new Normalize(options.Mean, options.Std).Apply(
            ImageResize.CenterCrop(ImageResize.Resize(images, 32, 32, ResizeInterpolation.Bilinear), 28, 28));
        Assert.Equal(0.0, AugmentationTestImages.MaxDifference(evaluation.Apply(images), expected));
        Assert.Equal(256, new EvalTransform(new AugmentationOptions()).ResizeSize);
        // Images of different sizes evaluate into one batch.
        Tensor[] mixed = [AugmentationTestImages.Codes(1, 3, 30, 50)[0], AugmentationTestImages.Codes(1, 3, 60, 31)[0]];
        Assert.Equal([2L, 3, 28, 28], evaluation.Apply(mixed).shape);
    }

    [Fact]
    public void NormaliseIsInvertibleAndRejectsMismatchedChannels()
    {
        var normalize = new Normalize(Normalize.ImageNetMean, Normalize.ImageNetStd);
        var images = AugmentationTestImages.Codes(2, 3, 8, 8);
        Assert.True(AugmentationTestImages.MaxDifference(normalize.Invert(normalize.Apply(images)), images) <= 1e-6);
        Assert.Throws<ArgumentException>(() => normalize.Apply(AugmentationTestImages.Codes(1, 2, 8, 8)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new AugmentationOptions { ErasingProbability = 2 }.Validate());
    }

    [Fact]
    public void OnCudaTheBatchStaysOnTheDeviceAndIsReproducible()
    {
        if (!cuda.is_available())
            return; // exercised on the GPU machine; the CPU path is covered above
        var images = AugmentationTestImages.Codes(4, 3, 40, 40).cuda();
        var augmentation = new TrainAugmentation(Small);
        var first = augmentation.Apply(images, seed: 3, epoch: 0, batchIndex: 1);
        Assert.Equal(DeviceType.CUDA, first.device_type);
        Assert.Equal([4L, 3, 32, 32], first.shape);
        Assert.True(Identical(first, augmentation.Apply(images, seed: 3, epoch: 0, batchIndex: 1)));
        // The random decisions do not depend on the device; with erasing off the result matches the CPU's closely.
        var noErasing = new TrainAugmentation(Small with { ErasingProbability = 0 });
        var onCpu = noErasing.Apply(images.cpu(), seed: 3, epoch: 0, batchIndex: 1);
        Assert.True(AugmentationTestImages.MaxDifference(noErasing.Apply(images, seed: 3, epoch: 0, batchIndex: 1).cpu(), onCpu) <= 1e-3);
    }
}
