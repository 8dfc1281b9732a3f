using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>
/// The deterministic evaluation transform, timm's transforms_imagenet_eval (centre mode): resize the shorter side to
/// ⌊size / crop fraction⌋, centre-crop size × size, normalise.
/// </summary>
public sealed class EvalTransform
{
    readonly Normalize _normalize;

    /// <summary>The evaluation transform of <paramref name="options"/> (its random settings are ignored).</summary>
    public EvalTransform(AugmentationOptions options)
    {
        options.Validate();
        Options = options;
        _normalize = new Normalize(options.Mean, options.Std);
        ResizeSize = (int)Math.Floor(options.ImageSize / options.EffectiveEvalCropFraction);
    }

    /// <summary>The settings.</summary>
    public AugmentationOptions Options { get; }

    /// <summary>The shorter side images are resized to before the centre crop.</summary>
    public int ResizeSize { get; }

    /// <summary>The normalised (N, C', size, size) batch of an (N, C, H, W) batch in [0, 1].</summary>
    public Tensor Apply(Tensor images)
    {
        using var scope = NewDisposeScope();
        return _normalize.Apply(ImageResize.ResizeAndCenterCrop(images, ResizeSize, Options.ImageSize, Options.Interpolation)).MoveToOuterDisposeScope();
    }

    /// <summary>One normalised batch of images of different sizes, each (C, H, W) in [0, 1].</summary>
    public Tensor Apply(IReadOnlyList<Tensor> images)
    {
        using var scope = NewDisposeScope();
        return _normalize.Apply(ImageResize.ResizeAndCenterCrop(images, ResizeSize, Options.ImageSize, Options.Interpolation)).MoveToOuterDisposeScope();
    }
}
