using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.Torch.Training.Data;

namespace ScaleKD.MLNet.Tests;

/// <summary>Zips written by earlier builds load and score as they did when they were written (Models/README.md).</summary>
[Trait("Category", "MLNet")]
public sealed class CommittedModelTests
{
    public sealed class BytesRow
    {
        public string Label { get; set; } = "";
        [VectorType] public byte[] Image { get; set; } = [];
    }

    public sealed class Scored
    {
        public string PredictedLabel { get; set; } = "";
        public float[] Score { get; set; } = [];
    }

    /// <summary>The ten images the expectations were written for, as PNG bytes.</summary>
    static List<BytesRow> Images() =>
        FashionPngFolder.EncodedImages(FashionMnist.Test().TakeStratified(10, seed: 1))
            .Select(image => new BytesRow { Label = FashionMnist.ClassNames[image.Label], Image = image.Png }).ToList();

    [Theory]
    [InlineData("student-format-00010002")]
    [InlineData("student-format-00010003")]
    public void AZipWrittenByAnEarlierBuildScoresAsItDidThen(string name)
    {
        var ml = new MLContext(seed: 0);
        var folder = Path.Combine(AppContext.BaseDirectory, "models");
        var model = ml.Model.Load(Path.Combine(folder, name + ".zip"), out _);
        var rows = Images();
        var scored = model.Transform(ml.Data.LoadFromEnumerable(rows));
        Assert.Equal(TextDataViewType.Instance, scored.Schema["PredictedLabel"].Type);
        var actual = ml.Data.CreateEnumerable<Scored>(scored, reuseRowObject: false).ToList();
        var expected = File.ReadAllLines(Path.Combine(folder, name + ".expected.tsv")).Select(l => l.Split('\t')).ToList();
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < actual.Count; i++)
        {
            Assert.Equal(expected[i][0], rows[i].Label);
            Assert.Equal(expected[i][1], actual[i].PredictedLabel);
            var scores = expected[i][2].Split(' ').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            for (var c = 0; c < scores.Length; c++)
                Assert.Equal(scores[c], actual[i].Score[c], 1e-4);
        }
    }
}
