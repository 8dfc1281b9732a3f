using System.Text.Json;
using Microsoft.ML;

// StockScoringHost MODEL_ZIP IMAGE...: scores each image with the zip through a PredictionEngine and prints one JSON
// object per line: {"image": PATH, "label": NAME, "scores": [p0, p1, ...]}.
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: ScaleKD.StockScoringHost MODEL_ZIP IMAGE...");
    return 2;
}
var ml = new MLContext();
var model = ml.Model.Load(args[0], out _);
using var engine = ml.Model.CreatePredictionEngine<ImageInput, ImagePrediction>(model);
foreach (var image in args[1..])
{
    var prediction = engine.Predict(new ImageInput { ImagePath = Path.GetFullPath(image) });
    Console.WriteLine(JsonSerializer.Serialize(new { image, label = prediction.PredictedLabel, scores = prediction.Score }));
}
return 0;

sealed class ImageInput
{
    public string ImagePath { get; set; } = "";
}

sealed class ImagePrediction
{
    public string PredictedLabel { get; set; } = "";
    public float[] Score { get; set; } = [];
}
