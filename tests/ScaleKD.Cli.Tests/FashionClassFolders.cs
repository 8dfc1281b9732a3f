using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training.Data;

namespace ScaleKD.Cli.Tests;

/// <summary>Writes Fashion-MNIST test images of three classes (Trouser, Sneaker, Bag) as 28×28 PNG files, one sub-folder
/// per class: real images in the layout a user gives the tool.</summary>
public static class FashionClassFolders
{
    /// <summary>Writes the images of a class-balanced draw of <paramref name="draw"/> test images that belong to the three classes.</summary>
    public static void Write(string folder, int draw)
    {
        TorchBackend.Initialize();
        var source = FashionMnist.Test().TakeStratified(draw, seed: 5);
        var keep = new Dictionary<int, string> { [1] = "Trouser", [7] = "Sneaker", [8] = "Bag" };
        var index = 0;
        foreach (var batch in source.ReadBatches(new BatchRequest(0, 100, false, 0, false)))
        {
            using (batch)
            {
                var pixels = batch.Images.mul(255).round().to(TorchSharp.torch.ScalarType.Byte).data<byte>().ToArray();
                var labels = batch.Labels.data<long>().ToArray();
                for (var i = 0; i < labels.Length; i++, index++)
                {
                    if (!keep.TryGetValue((int)labels[i], out var name))
                        continue;
                    var classFolder = Directory.CreateDirectory(Path.Combine(folder, name)).FullName;
                    File.WriteAllBytes(Path.Combine(classFolder, $"{index:D4}.png"), DataSets.EncodeGrayPng(pixels.AsSpan(i * 784, 784), 28, 28));
                }
            }
        }
    }
}
