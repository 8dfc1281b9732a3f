using Microsoft.ML.Data;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training.Data;

namespace ScaleKD.MLNet.Tests;

/// <summary>A few hundred real Fashion-MNIST images (Debian's dataset-fashion-mnist) written as PNG files, with
/// train.tsv and test.tsv listing "label TAB file name".</summary>
public sealed class FashionPngFolder : IDisposable
{
    public const int TrainCount = 320;
    public const int TestCount = 160;

    public FashionPngFolder()
    {
        TorchBackend.Initialize();
        Directory.CreateDirectory(Folder);
        Write(FashionMnist.Train().TakeStratified(TrainCount, seed: 21), "train");
        Write(FashionMnist.Test().TakeStratified(TestCount, seed: 22), "test");
    }

    public string Folder { get; } = Directory.CreateTempSubdirectory("scalekd-png-").FullName;
    public string TrainTsv => Path.Combine(Folder, "train.tsv");
    public string TestTsv => Path.Combine(Folder, "test.tsv");

    void Write(IdxImageSource source, string split)
    {
        var lines = new List<string>();
        var index = 0;
        foreach (var batch in source.ReadBatches(new BatchRequest(0, 64, false, 0, false)))
        {
            using (batch)
            {
                var pixels = batch.Images.mul(255).round().to(TorchSharp.torch.ScalarType.Byte).data<byte>().ToArray();
                var labels = batch.Labels.data<long>().ToArray();
                for (var i = 0; i < labels.Length; i++, index++)
                {
                    var name = $"{split}-{index:D4}.png";
                    SaveGrayAsPng(pixels.AsSpan(i * 28 * 28, 28 * 28), 28, 28, Path.Combine(Folder, name));
                    lines.Add($"{FashionMnist.ClassNames[(int)labels[i]]}\t{name}");
                }
            }
        }
        File.WriteAllLines(Path.Combine(Folder, $"{split}.tsv"), lines);
    }

    /// <summary>Each image of <paramref name="source"/> as the bytes of an RGBA PNG file, with its class index.</summary>
    public static List<(int Label, byte[] Png)> EncodedImages(IdxImageSource source)
    {
        TorchBackend.Initialize();
        var folder = Directory.CreateTempSubdirectory("scalekd-png-bytes-").FullName;
        try
        {
            var images = new List<(int Label, byte[] Png)>();
            foreach (var batch in source.ReadBatches(new BatchRequest(0, 64, false, 0, false)))
                using (batch)
                {
                    var pixels = batch.Images.mul(255).round().to(TorchSharp.torch.ScalarType.Byte).data<byte>().ToArray();
                    var labels = batch.Labels.data<long>().ToArray();
                    for (var i = 0; i < labels.Length; i++)
                    {
                        var path = Path.Combine(folder, $"{images.Count}.png");
                        SaveGrayAsPng(pixels.AsSpan(i * 28 * 28, 28 * 28), 28, 28, path);
                        images.Add(((int)labels[i], File.ReadAllBytes(path)));
                    }
                }
            return images;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Writes a grayscale image as an RGBA PNG (R = G = B, opaque).</summary>
    public static void SaveGrayAsPng(ReadOnlySpan<byte> gray, int width, int height, string path)
    {
        var rgba = new byte[width * height * 4];
        for (var p = 0; p < gray.Length; p++)
            (rgba[4 * p], rgba[4 * p + 1], rgba[4 * p + 2], rgba[4 * p + 3]) = (gray[p], gray[p], gray[p], 255);
        using var image = MLImage.CreateFromPixels(width, height, MLPixelFormat.Rgba32, rgba);
        image.Save(path);
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
