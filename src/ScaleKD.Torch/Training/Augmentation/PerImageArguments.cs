using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>Per-image op arguments: one value per image of the batch, or a single value for all of them.</summary>
static class PerImageArguments
{
    /// <summary>The argument of image <paramref name="index"/>.</summary>
    public static double At(IReadOnlyList<double> arguments, int index) => arguments.Count == 1 ? arguments[0] : arguments[index];

    /// <summary>Checks the count against the batch.</summary>
    public static void Check(IReadOnlyList<double> arguments, Tensor images, string name)
    {
        if (arguments.Count != 1 && arguments.Count != images.shape[0])
            throw new ArgumentException($"Expected 1 or {images.shape[0]} values (one per image), got {arguments.Count}.", name);
    }

    /// <summary>The arguments as a (N or 1, 1, 1, 1) tensor that broadcasts over the batch, in the images' dtype and device.</summary>
    public static Tensor AsTensor(IReadOnlyList<double> arguments, Tensor images, string name, ScalarType? dtype = null)
    {
        Check(arguments, images, name);
        return tensor(arguments.ToArray(), dtype: dtype ?? images.dtype, device: images.device).view(-1, 1, 1, 1);
    }
}
