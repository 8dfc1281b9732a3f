using Microsoft.ML;
using Microsoft.ML.Data;

namespace ScaleKD.TestHost;

/// <summary>Loads a model zip with plain MLContext.Model.Load (no ScaleKD call first) and prints, for each row of a
/// "label TAB image" file, the predicted label and the float bits of the scores, through batched Transform and
/// through PredictionEngine.</summary>
static class ScoreImagesCommand
{
    sealed class Row
    {
        [LoadColumn(0)] public string Label { get; set; } = "";
        [LoadColumn(1)] public string ImagePath { get; set; } = "";
    }

    sealed class Prediction
    {
        public float[] Score { get; set; } = [];
        public string PredictedLabel { get; set; } = "";
    }

    public static int Run(string zip, string tsv)
    {
        var ml = new MLContext(seed: 1);
        var model = ml.Model.Load(zip, out _);
        var data = ml.Data.LoadFromTextFile<Row>(tsv, separatorChar: '\t');
        foreach (var p in ml.Data.CreateEnumerable<Prediction>(model.Transform(data), reuseRowObject: false))
            Console.WriteLine($"transform {p.PredictedLabel} {Bits(p.Score)}");
        using var engine = ml.Model.CreatePredictionEngine<Row, Prediction>(model);
        foreach (var row in ml.Data.CreateEnumerable<Row>(data, reuseRowObject: false))
        {
            var p = engine.Predict(row);
            Console.WriteLine($"engine {p.PredictedLabel} {Bits(p.Score)}");
        }
        return 0;
    }

    static string Bits(float[] values) => string.Join(' ', values.Select(v => BitConverter.SingleToInt32Bits(v).ToString("x8")));
}
