using System.Text.Json;
using Microsoft.ML;

// StockScoringHost MODEL_ZIP IMAGE...: scores each image with the zip of `scalekd export` through a PredictionEngine and
// prints one JSON object per line: {"image": PATH, "label": NAME, "scores": [p0, p1, ...]}. The region between the
// README markers is README's scoring example, verbatim (ReadmeTests).
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: ScaleKD.StockScoringHost MODEL_ZIP IMAGE...");
    Environment.Exit(2);
}
var (modelZip, images) = (args[0], args[1..]);
// README-BEGIN
var ml = new MLContext();
var model = ml.Model.Load(modelZip, out _);
using var engine = ml.Model.CreatePredictionEngine<ImageInput, ImagePrediction>(model);
foreach (var image in images)
{
    var prediction = engine.Predict(new ImageInput { ImagePath = Path.GetFullPath(image) });
    Console.WriteLine(JsonSerializer.Serialize(new { image, label = prediction.PredictedLabel, scores = prediction.Score }));
}

sealed class ImageInput { public string ImagePath { get; set; } = ""; }
sealed class ImagePrediction { public string PredictedLabel { get; set; } = ""; public float[] Score { get; set; } = []; }
// README-END
