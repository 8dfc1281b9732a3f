using Google.Protobuf;
using Onnx;
using ScaleKD.Torch.IO;

namespace ScaleKD.Torch.Onnx;

/// <summary>
/// An ONNX model with its initialisers' values left out: the graph, and every initialiser's name, element type and
/// shape, kept. What a reader that takes every weight from elsewhere needs: the PyTorch job rebuilds a teacher imported
/// from ONNX from this graph and loads its weights (fine-tuned or not, the probed head included) from
/// teacher.safetensors, so carrying ML.NET's 64 MB of weights twice would only make the job slower to copy. The
/// result is not a model ONNX Runtime can load.
/// </summary>
public static class OnnxWeightFreeCopy
{
    /// <summary>Writes <paramref name="source"/> without its initialisers' values to <paramref name="target"/>, atomically.</summary>
    /// <exception cref="InvalidDataException">The source is not an ONNX model.</exception>
    public static void Write(string source, string target)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(source));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"'{source}' is not an ONNX model: {e.Message}", e);
        }
        foreach (var initializer in model.Graph.Initializer)
        {
            initializer.RawData = ByteString.Empty;
            initializer.FloatData.Clear();
            initializer.DoubleData.Clear();
            initializer.Int32Data.Clear();
            initializer.Int64Data.Clear();
            initializer.Uint64Data.Clear();
            initializer.StringData.Clear();
        }
        AtomicFile.Write(target, model.WriteTo);
    }
}
