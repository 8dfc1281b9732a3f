using ScaleKD.BatchScoring;

namespace ScaleKD.Samples.Tests;

[Trait("Category", "Samples")]
[Collection(SampleModelCollection.Name)]
public sealed class BatchScoringTests(SampleModel model)
{
    [Fact]
    public void EveryImageInTheFolderIsScoredLikeThePredictionEngineDoes()
    {
        var folder = Directory.CreateDirectory(Path.Combine(model.Images.Folder, "batch")).FullName;
        // More images than one scoring batch (32), and a file that is not an image, which is skipped.
        var images = model.TestImages.Take(40).ToList();
        foreach (var image in images)
            File.Copy(image, Path.Combine(folder, Path.GetFileName(image)));
        File.WriteAllText(Path.Combine(folder, "notes.txt"), "not an image");

        var output = new StringWriter();
        Assert.Equal(images.Count, BatchScorer.Run(model.ZipPath, folder, output));

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var rows = lines[..^1].Select(line => line.Split('\t')).ToList();
        var expected = model.PredictInProcess(images);
        Assert.Equal(images.Select(Path.GetFileName), rows.Select(r => r[0]));
        Assert.Equal(expected.Select(p => p.PredictedLabel), rows.Select(r => r[1]));
        Assert.Equal(expected.Select(p => p.Score.Max().ToString("F3")), rows.Select(r => r[2]));
        Assert.StartsWith($"scored {images.Count} images in ", lines[^1]);
    }
}
