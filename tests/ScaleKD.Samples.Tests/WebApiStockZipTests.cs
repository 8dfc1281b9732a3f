using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.Tests.Shared;

namespace ScaleKD.Samples.Tests;

/// <summary>The web API serving the stock zip that <c>scalekd export</c> writes from the sample's ScaleKD zip: scored
/// through ONNX Runtime, bit for bit as a stock PredictionEngine over the same zip scores the image files.</summary>
[Trait("Category", "Samples")]
[Collection(SampleModelCollection.Name)]
public sealed class WebApiStockZipTests(SampleModel model)
{
    sealed record PredictionJson(string Label, Dictionary<string, float> Scores);

    sealed class PathRow
    {
        public string ImagePath { get; set; } = "";
    }

    sealed class StockPrediction
    {
        public string PredictedLabel { get; set; } = "";
        public float[] Score { get; set; } = [];
    }

    [Fact]
    public async Task TheExportedStockZipIsServedAndScoresAsStockMLNetDoes()
    {
        var folder = Path.Combine(model.Images.Folder, "export");
        var export = ChildProcess.Run("scalekd", null, "export", "--model", model.ZipPath, "--onnx", folder);
        Assert.True(export.ExitCode == 0, export.StandardError + export.StandardOutput);
        var stockZip = Path.Combine(folder, "model.zip");

        var images = model.TestImages.Take(6).ToList();
        var ml = new MLContext();
        var stock = ml.Model.Load(stockZip, out var inputSchema);
        // Score's slot names are the class order; the API's map gives each class its probability.
        VBuffer<ReadOnlyMemory<char>> names = default;
        stock.GetOutputSchema(inputSchema)["Score"].GetSlotNames(ref names);
        var classes = names.DenseValues().Select(n => n.ToString()).ToList();
        using var engine = ml.Model.CreatePredictionEngine<PathRow, StockPrediction>(stock);
        var expected = images.Select(path => engine.Predict(new PathRow { ImagePath = path })).ToList();

        using var api = new ApiFactory(new Dictionary<string, string?> { ["ScaleKD:ModelPath"] = stockZip });
        using var client = api.CreateClient();
        var health = JsonDocument.Parse(await client.GetStringAsync("/health")).RootElement;
        Assert.Equal("onnx", health.GetProperty("kind").GetString());
        Assert.Equal(10, health.GetProperty("classes").GetInt32());
        for (var i = 0; i < images.Count; i++)
        {
            var file = new ByteArrayContent(await File.ReadAllBytesAsync(images[i]));
            file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
            using var response = await client.PostAsync("/predict", new MultipartFormDataContent { { file, "image", "upload.png" } });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var prediction = (await response.Content.ReadFromJsonAsync<PredictionJson>())!;
            Assert.Equal(expected[i].PredictedLabel, prediction.Label);
            Assert.Equal(expected[i].Score, classes.Select(name => prediction.Scores[name]).ToArray());
        }
    }
}
