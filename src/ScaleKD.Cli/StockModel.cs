using Google.Protobuf;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using ScaleKD.MLNet;
using ScaleKD.Torch.IO;
using ScaleKD.Torch.Onnx.Export;

namespace ScaleKD.Cli;

/// <summary>
/// The student as a zip that stock ML.NET scores (Microsoft.ML, Microsoft.ML.ImageAnalytics, Microsoft.ML.OnnxTransformer
/// and ONNX Runtime; no ScaleKD, no TorchSharp): <c>ImagePath</c> in; <c>Score</c> (the class probabilities, in the
/// ScaleKD zip's class order) and <c>PredictedLabel</c> (the class name) out. The pipeline is
/// LoadImages → ResizeImages (shorter side to the evaluation's resize size, centre crop to a square) → ExtractPixels
/// (planar RGB floats in [0, 255]) → ApplyOnnxModel (the centre crop to the student's size, the normalisation, the
/// student, the softmax) → MapValue (class index → name).
/// </summary>
/// <remarks>
/// Where it differs from the ScaleKD zip's evaluation preprocessing: ML.NET resizes with SkiaSharp's filter, ScaleKD
/// with PIL-style antialiased bilinear; and for a non-square image ML.NET crops the square before the graph's crop,
/// so the longer side's offset may differ by a pixel. Images already at the resize size go through unresampled in
/// both, and then the scores agree to float32 rounding.
/// </remarks>
static class StockModel
{
    /// <summary>The input column: an image file's path, as stock <c>LoadImages</c> reads it.</summary>
    public const string ImagePathColumn = "ImagePath";

    const string ImageColumn = "image.file";
    const string ResizedColumn = "image.resized";

    sealed class ImagePathRow
    {
        public string ImagePath { get; set; } = "";
    }

    /// <summary>Writes the stock zip of <paramref name="student"/> to <paramref name="path"/> (atomically).</summary>
    public static void Write(MLContext ml, ScaleKDTransformer student, string path)
    {
        var preprocessing = student.Preprocessing;
        var size = preprocessing.ResizeSize;
        // ML.NET's OnnxTransformer scores one row at a time and makes vector columns of tensor outputs: a graph for one
        // image, whose label is a scalar, gives the scalar PredictedLabel a class name maps from.
        var graph = OnnxExport.ToModel(student.Student, preprocessing.ToOnnxExportOptions() with { SingleImage = true, InputSize = size });
        var classes = student.ClassNames.Select((name, i) => new KeyValuePair<long, string>(i, name));
        var pipeline = ml.Transforms.LoadImages(ImageColumn, imageFolder: null, ImagePathColumn)
            .Append(ml.Transforms.ResizeImages(ResizedColumn, size, size, ImageColumn, ImageResizingEstimator.ResizingKind.IsoCrop,
                ImageResizingEstimator.Anchor.Center))
            .Append(ml.Transforms.ExtractPixels(OnnxExport.InputName, ResizedColumn, ImagePixelExtractingEstimator.ColorBits.Rgb,
                ImagePixelExtractingEstimator.ColorsOrder.ARGB, interleavePixelColors: false, offsetImage: 0, scaleImage: 1, outputAsFloatArray: true))
            .Append(ml.Transforms.ApplyOnnxModel([OnnxExport.ProbabilitiesName, OnnxExport.LabelName], [OnnxExport.InputName],
                new MemoryStream(graph.ToByteArray(), writable: false)))
            .Append(ml.Transforms.Conversion.MapValue("PredictedLabel", classes, OnnxExport.LabelName))
            .Append(ml.Transforms.CopyColumns("Score", OnnxExport.ProbabilitiesName))
            .Append(ml.Transforms.DropColumns(ImageColumn, ResizedColumn, OnnxExport.ProbabilitiesName, OnnxExport.LabelName));
        var input = ml.Data.LoadFromEnumerable(Array.Empty<ImagePathRow>());
        var model = pipeline.Fit(input);
        AtomicFile.Write(path, stream => ml.Model.Save(model, input.Schema, stream));
    }
}
