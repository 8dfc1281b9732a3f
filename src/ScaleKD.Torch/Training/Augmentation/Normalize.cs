using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>
/// Per-channel standardisation (x − mean) / std of images in [0, 1], as torchvision's Normalize.
/// </summary>
/// <remarks>
/// Channel rules, explicit because grayscale data sets meet RGB-pretrained teachers:
/// <list type="bullet">
/// <item>as many statistics as channels: each channel uses its own;</item>
/// <item>one statistic: it applies to every channel;</item>
/// <item>a 1-channel batch with k &gt; 1 statistics: the gray channel is replicated into k channels first, the image
/// PIL's convert("RGB") makes of a grayscale image (R = G = B), so the output has k channels;</item>
/// <item>anything else is an error.</item>
/// </list>
/// A model taking 1-channel input therefore wants 1-element statistics (e.g. the data set's own gray mean and std).
/// </remarks>
public sealed class Normalize
{
    /// <summary>ImageNet's channel means (R, G, B), timm's IMAGENET_DEFAULT_MEAN.</summary>
    public static IReadOnlyList<double> ImageNetMean { get; } = [0.485, 0.456, 0.406];

    /// <summary>ImageNet's channel standard deviations (R, G, B), timm's IMAGENET_DEFAULT_STD.</summary>
    public static IReadOnlyList<double> ImageNetStd { get; } = [0.229, 0.224, 0.225];

    /// <summary>Standardisation with the given per-channel statistics (equal lengths, positive standard deviations).</summary>
    public Normalize(IReadOnlyList<double> mean, IReadOnlyList<double> std)
    {
        if (mean.Count == 0 || mean.Count != std.Count)
            throw new ArgumentException($"Mean ({mean.Count}) and std ({std.Count}) need the same, non-zero length.", nameof(std));
        if (std.Any(s => !(s > 0)))
            throw new ArgumentOutOfRangeException(nameof(std), "Standard deviations must be positive.");
        Mean = mean.ToArray();
        Std = std.ToArray();
    }

    /// <summary>The per-channel means.</summary>
    public IReadOnlyList<double> Mean { get; }

    /// <summary>The per-channel standard deviations.</summary>
    public IReadOnlyList<double> Std { get; }

    /// <summary>The number of channels the output has for <paramref name="inputChannels"/> input channels (see the remarks).</summary>
    public int OutputChannels(int inputChannels) =>
        inputChannels == Mean.Count || Mean.Count == 1 ? inputChannels
        : inputChannels == 1 ? Mean.Count
        : throw new ArgumentException($"{inputChannels}-channel images cannot be normalised with {Mean.Count} channel statistics.", nameof(inputChannels));

    /// <summary>The standardised (N, C', H, W) batch; C' is <see cref="OutputChannels"/> of the input's C.</summary>
    public Tensor Apply(Tensor images)
    {
        ImageResize.RequireBatch(images);
        var channels = OutputChannels((int)images.shape[1]);
        using var scope = NewDisposeScope();
        var input = images.shape[1] == channels ? images : images.expand(-1, channels, -1, -1);
        var mean = Statistic(Mean, channels, images);
        var std = Statistic(Std, channels, images);
        return ((input - mean) / std).MoveToOuterDisposeScope();
    }

    /// <summary>The inverse of <see cref="Apply"/> for a batch of <see cref="Mean"/>.Count channels (or any, with one statistic).</summary>
    public Tensor Invert(Tensor normalized)
    {
        ImageResize.RequireBatch(normalized);
        var channels = (int)normalized.shape[1];
        if (Mean.Count != 1 && Mean.Count != channels)
            throw new ArgumentException($"{channels}-channel images cannot be de-normalised with {Mean.Count} channel statistics.", nameof(normalized));
        using var scope = NewDisposeScope();
        return (normalized * Statistic(Std, channels, normalized) + Statistic(Mean, channels, normalized)).MoveToOuterDisposeScope();
    }

    static Tensor Statistic(IReadOnlyList<double> values, int channels, Tensor like)
    {
        var perChannel = values.Count == channels ? values.ToArray() : Enumerable.Repeat(values[0], channels).ToArray();
        return tensor(perChannel, dtype: like.dtype, device: like.device).view(1, channels, 1, 1);
    }
}
