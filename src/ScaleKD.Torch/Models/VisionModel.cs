using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>
/// An image classifier that exposes its four stage feature maps, as ScaleKD needs for students and teachers alike.
/// Parameter names equal timm's, so state dicts and safetensors files load in both directions.
/// </summary>
public abstract class VisionModel : nn.Module<Tensor, Tensor>
{
    /// <param name="name">The registered configuration name, e.g. <c>resnet50</c>.</param>
    protected VisionModel(string name, ModelOptions options) : base(name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.NumClasses, 1, nameof(options.NumClasses));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ImageSize, 1, nameof(options.ImageSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.InChannels, 1, nameof(options.InChannels));
        Options = options;
    }

    /// <summary>The options this instance was built with.</summary>
    public ModelOptions Options { get; }

    /// <summary>The architecture family.</summary>
    public abstract ModelFamily Family { get; }

    /// <summary>Width of <see cref="StageFeatures.PreLogits"/>, the classifier's input.</summary>
    public abstract int NumFeatures { get; }

    /// <summary>Runs the whole model once and returns every stage, the pooled features and the logits.</summary>
    /// <param name="images">(N, InChannels, ImageSize, ImageSize).</param>
    public abstract StageFeatures ForwardStages(Tensor images);

    /// <summary>The per-image shape of each of the four stage maps for <see cref="ModelOptions.ImageSize"/>.</summary>
    public abstract IReadOnlyList<StageShape> StageShapes();

    /// <summary>The classifier: pooled features (N, <see cref="NumFeatures"/>) to logits.</summary>
    public abstract nn.Module<Tensor, Tensor> Classifier { get; }

    /// <summary>Logits only.</summary>
    public override Tensor forward(Tensor images) => ForwardStages(images).Logits;

    /// <summary>Fails clearly on an input that does not fit this model.</summary>
    protected void CheckInput(Tensor images)
    {
        if (images.dim() != 4 || images.shape[1] != Options.InChannels || images.shape[2] != Options.ImageSize || images.shape[3] != Options.ImageSize)
            throw new ArgumentException(
                $"{GetName()} expects images shaped (N, {Options.InChannels}, {Options.ImageSize}, {Options.ImageSize}); got ({string.Join(", ", images.shape)}).",
                nameof(images));
    }
}
