using System.Reflection;
using Google.Protobuf;
using Onnx;
using ScaleKD.Torch.IO;
using ScaleKD.Torch.Models;
using static ScaleKD.Torch.Onnx.Export.OnnxGraphWriter;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Onnx.Export;

/// <summary>
/// Writes a student as an ONNX model (opset 17) that ONNX Runtime scores without libtorch, computing what the model's
/// eval-mode <see cref="VisionModel.forward"/> computes (drop path off, batch norm on running statistics), plus the
/// normalisation before and the softmax after:
/// <list type="bullet">
/// <item>input <c>image</c>: float32 pixels in [0, 255], (N, C, S, S) with a symbolic batch axis <c>N</c>, C and S the
/// model's <see cref="ModelOptions.InChannels"/> and <see cref="ModelOptions.ImageSize"/>; RGB for RGB models;</item>
/// <item>output <c>probabilities</c>: float32 (N, classes), the softmax of the logits;</item>
/// <item>output <c>label</c>: int64 (N), the index of the largest logit (the first one on a tie).</item>
/// </list>
/// Every student family is supported: ResNet (basic and bottleneck blocks), MobileNetV1, ConvNeXt, MLP-Mixer, ViT and
/// Swin. Batch norm is folded into the preceding convolutions. The model's name, size and normalisation are stored in
/// the model's metadata (<c>scalekd.*</c>). With <see cref="OnnxExportOptions.InputSize"/> the input is larger and the
/// graph centre-crops it, for hosts that cannot crop (stock ML.NET's image transforms resize but do not crop).
/// </summary>
public static class OnnxExport
{
    /// <summary>The opset the graphs are written for: the first with LayerNormalization.</summary>
    public const int Opset = 17;

    /// <summary>The image input.</summary>
    public const string InputName = "image";

    /// <summary>The softmax output (N, classes).</summary>
    public const string ProbabilitiesName = "probabilities";

    /// <summary>The top-1 output (N), int64.</summary>
    public const string LabelName = "label";

    /// <summary>The symbolic batch axis of the input and outputs.</summary>
    public const string BatchAxis = "N";

    /// <summary>The logits (N, classes): an intermediate value, not an output, named so that tests can fetch it.</summary>
    internal const string LogitsName = "logits";

    /// <summary>Writes <paramref name="student"/> to <paramref name="path"/> as an ONNX file.</summary>
    /// <exception cref="NotSupportedException">The model's architecture has no exporter; the message names it.</exception>
    public static void Write(VisionModel student, string path, OnnxExportOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var model = ToModel(student, options);
        AtomicFile.Write(path, model.WriteTo);
    }

    /// <summary>Writes <paramref name="student"/> to <paramref name="stream"/> as an ONNX model.</summary>
    /// <exception cref="NotSupportedException">The model's architecture has no exporter; the message names it.</exception>
    public static void Write(VisionModel student, Stream stream, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ToModel(student, options).WriteTo(stream);
    }

    /// <summary>The ONNX model of <paramref name="student"/>, e.g. to embed its bytes (<c>ToByteArray()</c>) elsewhere.</summary>
    /// <exception cref="NotSupportedException">The model's architecture has no exporter; the message names it.</exception>
    public static ModelProto ToModel(VisionModel student, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(student);
        options ??= new OnnxExportOptions();
        var name = student.GetName();
        if (student is not (ResNet or MobileNetV1 or ConvNeXt or Mixer or VisionTransformer or Swin))
            throw new NotSupportedException(
                $"Model '{name}' ({student.GetType().Name}) cannot be exported to ONNX: the exporter writes the student families " +
                "ResNet, MobileNetV1, ConvNeXt, MLP-Mixer, ViT and Swin only.");
        var (channels, size) = (student.Options.InChannels, (long)student.Options.ImageSize);
        options.Validate(channels, (int)size);
        var inputSize = (long)(options.InputSize ?? (int)size);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var graph = new OnnxGraphWriter(name);
        var layers = new OnnxLayers(graph);
        var tree = new ModuleTree(student);

        var image = graph.Input(InputName, BatchAxis, null, channels, inputSize, inputSize);
        var pixels = Normalisation(graph, CentreCrop(graph, image, inputSize, size), options, channels);
        var logits = student switch
        {
            ResNet => ResNetExport.Logits(layers, tree, pixels),
            MobileNetV1 => MobileNetV1Export.Logits(layers, tree, pixels),
            ConvNeXt => ConvNeXtExport.Logits(layers, tree, pixels),
            Mixer mixer => MixerExport.Logits(layers, tree, mixer, pixels),
            VisionTransformer vit => VisionTransformerExport.Logits(layers, tree, vit, pixels),
            Swin swin => SwinExport.Logits(layers, tree, swin, pixels),
            _ => throw new InvalidOperationException("Unreachable: checked above."),
        };
        logits = graph.Node("Identity", LogitsName, [logits]);
        var classes = (long)student.Options.NumClasses;
        graph.Output(graph.Node("Softmax", ProbabilitiesName, [logits], Int("axis", 1)), ProbabilitiesName,
            TensorProto.Types.DataType.Float, BatchAxis, null, classes);
        graph.Output(graph.Node("ArgMax", LabelName, [logits], Int("axis", 1), Int("keepdims", 0)), LabelName,
            TensorProto.Types.DataType.Int64, BatchAxis, (long?)null);

        var model = new ModelProto
        {
            // IR version 8 is the first that opset 17 may be paired with.
            IrVersion = 8,
            ProducerName = "ScaleKD.MLNet",
            ProducerVersion = typeof(OnnxExport).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "",
            DocString = $"{name}: {channels}×{size}×{size} pixels in [0, 255] → softmax probabilities over {classes} classes and the top-1 index.",
            Graph = graph.Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        AddMetadata(model, "scalekd.model", name);
        AddMetadata(model, "scalekd.image_size", size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        AddMetadata(model, "scalekd.num_classes", classes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        AddMetadata(model, "scalekd.mean", string.Join(",", options.Mean.Select(m => m.ToString("R", System.Globalization.CultureInfo.InvariantCulture))));
        AddMetadata(model, "scalekd.std", string.Join(",", options.Std.Select(s => s.ToString("R", System.Globalization.CultureInfo.InvariantCulture))));
        return model;
    }

    /// <summary>The central <paramref name="size"/>² window of (N, C, <paramref name="inputSize"/>, <paramref name="inputSize"/>)
    /// images, offsets as <see cref="Training.Augmentation.ImageResize.CenterCrop"/> places them; the image itself when
    /// the sizes are equal.</summary>
    static string CentreCrop(OnnxGraphWriter graph, string image, long inputSize, long size)
    {
        if (inputSize == size)
            return image;
        var offset = (long)Math.Round((inputSize - size) / 2.0, MidpointRounding.ToEven);
        return graph.Node("Slice", "pixels.crop",
            [image, graph.Int64s("crop_starts", offset, offset), graph.Int64s("crop_ends", offset + size, offset + size), graph.Int64s("crop_axes", 2, 3)]);
    }

    /// <summary>(x / 255 − mean) / std in the order and float32 precision of the evaluation pipeline (pixels divided by
    /// 255, then <see cref="Training.Augmentation.Normalize"/>).</summary>
    static string Normalisation(OnnxGraphWriter graph, string image, OnnxExportOptions options, int channels)
    {
        Tensor Statistic(IReadOnlyList<double> values) =>
            tensor(values.Count == channels ? values.ToArray() : Enumerable.Repeat(values[0], channels).ToArray(), dtype: float32).view(1, channels, 1, 1);
        var unit = graph.Node("Div", "pixels.unit", [image, graph.Scalar("pixel_scale", 255f)]);
        var centred = graph.Node("Sub", "pixels.centred", [unit, graph.Constant("pixels.mean", Statistic(options.Mean))]);
        return graph.Node("Div", "pixels", [centred, graph.Constant("pixels.std", Statistic(options.Std))]);
    }

    static void AddMetadata(ModelProto model, string key, string value) =>
        model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
}
