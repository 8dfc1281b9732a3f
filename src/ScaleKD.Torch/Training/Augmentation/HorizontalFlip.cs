using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>Mirrors each image left–right with a probability, independently per image (torchvision's RandomHorizontalFlip).</summary>
public sealed class HorizontalFlip
{
    /// <summary>A flip applied with <paramref name="probability"/> (timm's default 0.5).</summary>
    public HorizontalFlip(double probability = 0.5)
    {
        if (probability is < 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "A probability lies in [0, 1].");
        Probability = probability;
    }

    /// <summary>The probability that an image is mirrored.</summary>
    public double Probability { get; }

    /// <summary>Which images of a batch of <paramref name="count"/> are mirrored.</summary>
    public bool[] Sample(int count, AugmentationRandom random)
    {
        var flips = new bool[count];
        for (var i = 0; i < count; i++)
            flips[i] = random.Chance(Probability);
        return flips;
    }

    /// <summary>The (N, C, H, W) batch with a random subset of its images mirrored.</summary>
    public Tensor Apply(Tensor images, AugmentationRandom random) => Apply(images, Sample((int)images.shape[0], random));

    /// <summary>The (N, C, H, W) batch with image i mirrored where <paramref name="flips"/>[i].</summary>
    public static Tensor Apply(Tensor images, IReadOnlyList<bool> flips)
    {
        ImageResize.RequireBatch(images);
        if (flips.Count != images.shape[0])
            throw new ArgumentException($"{flips.Count} flip decisions for {images.shape[0]} images.", nameof(flips));
        using var scope = NewDisposeScope();
        var mask = tensor(flips.ToArray(), device: images.device).view(-1, 1, 1, 1);
        return images.flip(3).where(mask, images).MoveToOuterDisposeScope();
    }
}
