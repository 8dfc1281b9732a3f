using System.Text.Json;
using ScaleKD.Tests.Shared;
using ScaleKD.Torch.Training.Data;
using static TorchSharp.torch;

namespace ScaleKD.Cli.Tests;

/// <summary>
/// export, from the user's side: the stock zip it writes is scored by an application that references only the stock
/// ML.NET packages (tests/ScaleKD.StockScoringHost), and its predictions are the ScaleKD zip's.
/// </summary>
public sealed partial class CommandTests
{
    // The whole-model float32 parity bound (ParityAssert.ModelRelative in the Torch tests): ONNX Runtime and libtorch
    // sum the same products in different orders, and through a network the rounding differences reach ~1e-5 of the
    // output's scale; probabilities lie in [0, 1].
    const double Float32Bound = 1e-4;

    [Fact]
    public void ExportWritesAStockZipThatAnAppWithoutScaleKDScoresAsTheScaleKDZipDoes()
    {
        var export = Path.Combine(folder.Root, "export");
        var result = folder.Scalekd("export", "--model", folder.Model, "--onnx", export);
        Assert.True(result.ExitCode == 0, result.StandardError + result.StandardOutput);
        Assert.True(File.Exists(Path.Combine(export, "student.onnx")));
        var stock = Path.Combine(export, "model.zip");
        // A zip without a ScaleKD student (here the stock one) is refused in one line that names it.
        var again = folder.Scalekd("export", "--model", stock, "--onnx", Path.Combine(folder.Root, "export-again"));
        Assert.Equal(1, again.ExitCode);
        Assert.StartsWith($"error: '{stock}' holds no ScaleKD student.", again.StandardError);

        // The application carries no ScaleKD or TorchSharp assembly and no libtorch.
        var host = ChildProcess.MetadataValue("ScaleKD.StockScoringHost");
        var carried = Directory.EnumerateFiles(Path.GetDirectoryName(host)!, "*", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
        Assert.DoesNotContain(carried, f => f!.StartsWith("ScaleKD.", StringComparison.Ordinal) && !f.StartsWith("ScaleKD.StockScoringHost", StringComparison.Ordinal));
        Assert.DoesNotContain(carried, f => f!.Contains("TorchSharp", StringComparison.Ordinal) || f.Contains("libtorch", StringComparison.Ordinal));

        // Images at the student's size (64 px, crop fraction 1): neither pipeline resamples, so the two agree to float32
        // rounding. The folder's 28 px images are resized by both, with different filters.
        var exact = SixtyFourPixelImages(Path.Combine(folder.Root, "export-64px"), 30);
        var resized = Directory.EnumerateFiles(folder.Images, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        foreach (var (images, unresampled) in new[] { (exact, true), (resized, false) })
        {
            var scaleKD = Predictions(folder.Scalekd(["predict", "--json", "--model", folder.Model, .. images]));
            var stockHost = Predictions(ChildProcess.Run("ScaleKD.StockScoringHost", null, [stock, .. images]));
            var stockCli = Predictions(folder.Scalekd(["predict", "--json", "--model", stock, .. images]));
            Assert.Equal(images.Length, scaleKD.Count);
            Assert.Equal(images.Length, stockHost.Count);
            // The tool scores a stock zip through the same stock pipeline as the application: the same floats.
            Assert.Equal(stockHost.Select(p => p.Scores), stockCli.Select(p => p.Scores));
            var largest = 0.0;
            var disagreements = 0;
            for (var i = 0; i < images.Length; i++)
            {
                largest = Math.Max(largest, scaleKD[i].Scores.Zip(stockHost[i].Scores, (a, b) => Math.Abs(a - b)).Max());
                var margin = Margin(scaleKD[i].Scores);
                var difference = scaleKD[i].Scores.Zip(stockHost[i].Scores, (a, b) => Math.Abs(a - b)).Max();
                if (stockHost[i].Label != scaleKD[i].Label)
                {
                    disagreements++;
                    // Only a near-tie may flip: when no probability moves by more than d, the top class can change only if
                    // it led by at most 2d. Without resampling d is float32 rounding; with it, what the two resize filters
                    // make of the image (a flipped label must still come from its own image's scores, not a mapping error).
                    var bound = unresampled ? Float32Bound : difference;
                    Assert.False(margin > 2 * bound, $"{images[i]}: {stockHost[i].Label} ≠ {scaleKD[i].Label}, margin {margin:E2} > 2 × {bound:E2}");
                }
            }
            output.WriteLine($"{(unresampled ? "64 px, no resize" : "28 px, resized to 64")}: {images.Length} images, " +
                               $"{disagreements} top-1 disagreements, largest probability difference {largest:E2}");
            if (unresampled)
                Assert.True(largest <= Float32Bound, $"largest probability difference {largest:E2} > {Float32Bound:E0}");
        }
    }

    [Fact]
    public void EvaluateJsonGivesTheSameAccuracyForTheStockZip()
    {
        var export = Path.Combine(folder.Root, "export-evaluate");
        Assert.Equal(0, folder.Scalekd("export", "--model", folder.Model, "--onnx", export).ExitCode);
        var scaleKD = JsonDocument.Parse(folder.Scalekd("evaluate", "--json", "--model", folder.Model, "--data", folder.Images).StandardOutput).RootElement;
        var stock = JsonDocument.Parse(folder.Scalekd("evaluate", "--json", "--model", Path.Combine(export, "model.zip"), "--data", folder.Images).StandardOutput).RootElement;
        var images = scaleKD.GetProperty("images").GetInt64();
        Assert.Equal(images, stock.GetProperty("images").GetInt64());
        Assert.Equal(["Bag", "Sneaker", "Trouser"], scaleKD.GetProperty("confusion").GetProperty("classes").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(3, stock.GetProperty("classes").GetArrayLength());
        // ≥ 99 % of the labels agree (the images are resized), so the accuracies differ by at most 1 % of the images.
        Assert.InRange(Math.Abs(scaleKD.GetProperty("accuracy").GetDouble() - stock.GetProperty("accuracy").GetDouble()), 0, Math.Max(1, images / 100) / (double)images + 1e-12);
    }

    sealed record Prediction(string Label, float[] Scores);

    static List<Prediction> Predictions(ChildProcess.Result run)
    {
        Assert.True(run.ExitCode == 0, run.StandardError + run.StandardOutput);
        return run.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line =>
        {
            var json = JsonDocument.Parse(line).RootElement;
            var scores = json.GetProperty("scores");
            var values = scores.ValueKind == JsonValueKind.Array
                ? scores.EnumerateArray().Select(s => s.GetSingle())
                : scores.EnumerateObject().Select(s => s.Value.GetSingle());
            return new Prediction(json.GetProperty("label").GetString()!, values.ToArray());
        }).ToList();
    }

    static double Margin(float[] scores)
    {
        var sorted = scores.OrderDescending().ToArray();
        return sorted[0] - sorted[1];
    }

    /// <summary>Fashion-MNIST test images enlarged to 64 × 64 (bilinear), as grayscale PNGs.</summary>
    static string[] SixtyFourPixelImages(string folder, int count)
    {
        Directory.CreateDirectory(folder);
        using var scope = NewDisposeScope();
        var source = FashionMnist.Test().TakeStratified(count, seed: 9);
        var paths = new List<string>();
        foreach (var batch in source.ReadBatches(new BatchRequest(0, count, false, 0, false)))
            using (batch)
            {
                var large = nn.functional.interpolate(batch.Images, [64, 64], mode: InterpolationMode.Bilinear, align_corners: false);
                var pixels = large.mul(255).round().clamp(0, 255).to(ScalarType.Byte).data<byte>().ToArray();
                for (var i = 0; i < large.shape[0]; i++)
                {
                    var path = Path.Combine(folder, $"{paths.Count:D3}.png");
                    File.WriteAllBytes(path, DataSets.EncodeGrayPng(pixels.AsSpan(i * 64 * 64, 64 * 64), 64, 64));
                    paths.Add(path);
                }
            }
        return [.. paths];
    }
}
