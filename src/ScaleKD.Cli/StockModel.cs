using Google.Protobuf;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using Microsoft.ML.Transforms.Image;
using Onnx;
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
/// student, the softmax, the top-1 index) → Hash and ConvertType (the index as one number) → MapValue (→ class name).
/// </summary>
/// <remarks>
/// Why the hash: ML.NET 5.0.1's OnnxTransformer makes every tensor output a vector column (a rank-0 output reaches a
/// getter that only handles sequences and maps, and fails), so the top-1 index arrives as a one-slot vector, and a
/// value map of a vector gives a vector. Hashing with <c>combine</c> is the stock transform that folds a vector into
/// one scalar; the hash of each class index is computed here, checked for collisions, and mapped to the class name.
/// </remarks>
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
    const string LabelHashColumn = "label.hash";
    const string LabelCodeColumn = "label.code";

    sealed class ImagePathRow
    {
        public string ImagePath { get; set; } = "";
    }

    /// <summary>A top-1 index as the graph's label output gives it to ML.NET: a one-slot Int64 vector.</summary>
    public sealed class LabelRow
    {
        [ColumnName(OnnxExport.LabelName), VectorType(1)]
        public long[] Label { get; set; } = [0];
    }

    sealed class CodeRow
    {
        [ColumnName(LabelCodeColumn)]
        public uint Code { get; set; }
    }

    /// <summary>The class indices 0 … <paramref name="count"/> − 1 as label rows.</summary>
    public static IDataView ClassIndices(MLContext ml, int count) =>
        ml.Data.LoadFromEnumerable(Enumerable.Range(0, count).Select(i => new LabelRow { Label = [i] }).ToList());

    /// <summary>The one-slot label vector folded into one number: Hash (combine) to a key, ConvertType to its UInt32.</summary>
    static IEstimator<ITransformer> FoldLabel(MLContext ml, uint seed) =>
        ml.Transforms.Conversion.Hash(new HashingEstimator.ColumnOptions(LabelHashColumn, OnnxExport.LabelName, numberOfBits: 30, seed: seed, combine: true))
            .Append(ml.Transforms.Conversion.ConvertType(LabelCodeColumn, LabelHashColumn, DataKind.UInt32));

    /// <summary>A hash seed under which the <paramref name="classes"/> indices fold to distinct numbers, and those
    /// numbers (a seed whose hashes collide is passed over).</summary>
    static (uint Seed, uint[] Codes) ClassCodes(MLContext ml, int classes)
    {
        var indices = ClassIndices(ml, classes);
        for (uint seed = 314489979; ; seed++)
        {
            var folded = FoldLabel(ml, seed).Fit(indices).Transform(indices);
            var codes = ml.Data.CreateEnumerable<CodeRow>(folded, reuseRowObject: false).Select(r => r.Code).ToArray();
            if (codes.Distinct().Count() == classes)
                return (seed, codes);
        }
    }

    /// <summary>
    /// Gives the output <paramref name="output"/> ML.NET slot names: OnnxTransformer annotates an output with the
    /// <c>keys_strings</c> of a node named <c>mlnet.OUTPUT.SlotNames</c>, the convention of ML.NET's own ONNX export.
    /// The node is a LabelEncoder of the names to their indices, valid for ONNX Runtime; nothing reads its output.
    /// With the names on <c>Score</c>, any ML.NET app finds the classes the stock way (<c>GetSlotNames</c>).
    /// </summary>
    static void AddSlotNames(ModelProto graph, string output, IReadOnlyList<string> names)
    {
        var utf8 = names.Select(ByteString.CopyFromUtf8).ToList();
        var constant = new TensorProto { Name = $"{output}.slot_names", DataType = (int)TensorProto.Types.DataType.String };
        constant.Dims.Add(names.Count);
        constant.StringData.AddRange(utf8);
        graph.Graph.Initializer.Add(constant);
        var node = new NodeProto { Name = $"mlnet.{output}.SlotNames", OpType = "LabelEncoder", Domain = "ai.onnx.ml" };
        node.Input.Add(constant.Name);
        node.Output.Add($"{output}.slot_indices");
        var keys = new AttributeProto { Name = "keys_strings", Type = AttributeProto.Types.AttributeType.Strings };
        keys.Strings.AddRange(utf8);
        var values = new AttributeProto { Name = "values_int64s", Type = AttributeProto.Types.AttributeType.Ints };
        values.Ints.AddRange(Enumerable.Range(0, names.Count).Select(i => (long)i));
        node.Attribute.Add(keys);
        node.Attribute.Add(values);
        graph.Graph.Node.Add(node);
        // LabelEncoder with keys_strings and values_int64s is in the ML operator set from version 2.
        graph.OpsetImport.Add(new OperatorSetIdProto { Domain = "ai.onnx.ml", Version = 2 });
    }

    /// <summary>Writes the stock zip of <paramref name="student"/> to <paramref name="path"/> (atomically).</summary>
    public static void Write(MLContext ml, ScaleKDTransformer student, string path)
    {
        var preprocessing = student.Preprocessing;
        var size = preprocessing.ResizeSize;
        // The graph takes the resized square and crops it to the student's size (no stock transform crops).
        var graph = OnnxExport.ToModel(student.Student, preprocessing.ToOnnxExportOptions() with { InputSize = size });
        AddSlotNames(graph, OnnxExport.ProbabilitiesName, student.ClassNames);
        var (seed, codes) = ClassCodes(ml, student.ClassNames.Count);
        var classes = student.ClassNames.Select((name, i) => new KeyValuePair<uint, string>(codes[i], name));
        var pipeline = ml.Transforms.LoadImages(ImageColumn, imageFolder: null, ImagePathColumn)
            .Append(ml.Transforms.ResizeImages(ResizedColumn, size, size, ImageColumn, ImageResizingEstimator.ResizingKind.IsoCrop,
                ImageResizingEstimator.Anchor.Center))
            .Append(ml.Transforms.ExtractPixels(OnnxExport.InputName, ResizedColumn, ImagePixelExtractingEstimator.ColorBits.Rgb,
                ImagePixelExtractingEstimator.ColorsOrder.ARGB, interleavePixelColors: false, offsetImage: 0, scaleImage: 1, outputAsFloatArray: true))
            .Append(ml.Transforms.ApplyOnnxModel([OnnxExport.ProbabilitiesName, OnnxExport.LabelName], [OnnxExport.InputName],
                new MemoryStream(graph.ToByteArray(), writable: false)))
            .Append(FoldLabel(ml, seed))
            .Append(ml.Transforms.Conversion.MapValue("PredictedLabel", classes, LabelCodeColumn))
            .Append(ml.Transforms.CopyColumns("Score", OnnxExport.ProbabilitiesName))
            .Append(ml.Transforms.DropColumns(ImageColumn, ResizedColumn, OnnxExport.ProbabilitiesName, OnnxExport.LabelName, LabelHashColumn, LabelCodeColumn));
        var input = ml.Data.LoadFromEnumerable(Array.Empty<ImagePathRow>());
        var model = pipeline.Fit(input);
        AtomicFile.Write(path, stream => ml.Model.Save(model, input.Schema, stream));
    }
}
