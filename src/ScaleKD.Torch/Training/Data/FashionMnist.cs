namespace ScaleKD.Torch.Training.Data;

/// <summary>Fashion-MNIST as Debian's <c>dataset-fashion-mnist</c> package installs it: the embedded default data.</summary>
public static class FashionMnist
{
    /// <summary>Where the Debian package puts the IDX files.</summary>
    public const string DefaultDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>The ten class names by label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>The 60,000 training images.</summary>
    public static IdxImageSource Train(string directory = DefaultDirectory) => Open(directory, "train");

    /// <summary>The 10,000 test images.</summary>
    public static IdxImageSource Test(string directory = DefaultDirectory) => Open(directory, "t10k");

    static IdxImageSource Open(string directory, string split)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException(
                $"Fashion-MNIST is not at '{directory}'. On Debian or Ubuntu: sudo apt-get install dataset-fashion-mnist");
        return IdxImageSource.Open(
            Path.Combine(directory, $"{split}-images-idx3-ubyte.gz"),
            Path.Combine(directory, $"{split}-labels-idx1-ubyte.gz"),
            ClassNames);
    }
}
