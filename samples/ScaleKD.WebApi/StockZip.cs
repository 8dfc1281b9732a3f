using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using Microsoft.ML.Transforms.Onnx;

namespace ScaleKD.WebApi;

/// <summary>
/// The stock zip of <c>scalekd export</c> (ImagePath → LoadImages → ResizeImages → ExtractPixels → ApplyOnnxModel → …,
/// with the class names as the slot names of <c>Score</c>), scored by ONNX Runtime through stock ML.NET: no ScaleKD
/// type, no libtorch. The zip reads images by path, so each upload is written to a temporary file of its own, scored
/// through the whole zip, and deleted: a stock app's scoring exactly. (The ScaleKD zip's route, bytes straight into the
/// student, has no stock counterpart: no stock transform decodes bytes, and ML.NET 5.0.1 maps an MLImage input only
/// to a fixed image size.)
/// </summary>
static class StockZip
{
    const string ImagePathColumn = "ImagePath";

    /// <summary>The served model, or null when <paramref name="loaded"/> is not such a zip.</summary>
    public static ServedModel? TryOpen(MLContext ml, ITransformer loaded, DataViewSchema inputSchema)
    {
        if (loaded is not TransformerChain<ITransformer> chain || chain.FirstOrDefault() is not ImageLoadingTransformer loader
            || !chain.Any(t => t is OnnxTransformer) || chain.OfType<ImageResizingTransformer>().FirstOrDefault() is not { } resize
            || inputSchema.GetColumnOrNull(ImagePathColumn) is null)
            return null;
        var output = loaded.GetOutputSchema(inputSchema);
        if (output.GetColumnOrNull("Score") is not { } score || !score.HasSlotNames())
            return null;
        VBuffer<ReadOnlyMemory<char>> names = default;
        score.GetSlotNames(ref names);
        // The resizer's settings are internal; its output column's image type carries the size.
        var imageSize = resize.GetOutputSchema(loader.GetOutputSchema(inputSchema)).Select(c => c.Type).OfType<ImageDataViewType>().Max(t => t.Width);
        return new ServedModel("onnx", "onnx", names.DenseValues().Select(n => n.ToString()).ToList(), imageSize, () => new Scorer(ml, loaded));
    }

    sealed class Scorer(MLContext ml, ITransformer model) : IImageScorer
    {
        readonly PredictionEngine<PathInput, ScoreOutput> _engine = ml.Model.CreatePredictionEngine<PathInput, ScoreOutput>(model,
            new PredictionEngineOptions { OwnsTransformer = false });

        public float[] Score(byte[] encodedImage)
        {
            var path = Path.Combine(Path.GetTempPath(), $"scalekd-upload-{Guid.NewGuid():N}");
            try
            {
                File.WriteAllBytes(path, encodedImage);
                return _engine.Predict(new PathInput { ImagePath = path }).Score;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                throw new InvalidDataException($"The upload ({encodedImage.Length} bytes) is not a decodable image.", e);
            }
            finally
            {
                File.Delete(path);
            }
        }

        public void Dispose() => _engine.Dispose();
    }

    sealed class PathInput
    {
        public string ImagePath { get; set; } = "";
    }

    sealed class ScoreOutput
    {
        public float[] Score { get; set; } = [];
    }
}
