using Microsoft.ML.OnnxRuntime;
using Onnx;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Onnx.Export;
using ScaleKD.Torch.Tests.Parity;
using ScaleKD.Torch.Training.Augmentation;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Onnx;

/// <summary>
/// One export checked end to end: the model's eval forward pass on normalised pixels against ONNX Runtime on the
/// exported file with raw pixels in [0, 255], for a batch of 3 and its first image alone (the batch axis is dynamic):
/// logits and probabilities to 1e-4 of their scale, labels exactly.
/// </summary>
static class OnnxExportParity
{
    /// <returns>The largest relative error of the logits and of the probabilities over every run.</returns>
    public static (double Logits, double Probabilities) Check(VisionModel model, string folder, int seed, params GraphOptimizationLevel[] levels)
    {
        using var scope = NewDisposeScope();
        var name = model.GetName();
        var (channels, size) = (model.Options.InChannels, model.Options.ImageSize);
        var pixels = (rand(3, channels, size, size, generator: new Generator((ulong)seed)) * 255).round();

        var path = Path.Combine(folder, name + ".onnx");
        OnnxExport.Write(model, path);
        var onnx = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        CheckContract(onnx, model);

        Tensor expected;
        using (no_grad())
            expected = model.forward(new Normalize(Normalize.ImageNetMean, Normalize.ImageNetStd).Apply(pixels / 255f));
        var expectedProbabilities = expected.softmax(1);
        var expectedLabels = expected.argmax(1);

        var (logitsError, probabilitiesError) = (0.0, 0.0);
        foreach (var level in levels)
        {
            var runs = OnnxRuntimeReference.RunExported(onnx, [pixels, pixels[..1]], level, OnnxExport.LogitsName);
            for (var r = 0; r < runs.Count; r++)
            {
                var rows = r == 0 ? 3 : 1;
                var label = $"{name} onnx ({level}, batch {rows})";
                var actual = runs[r];
                logitsError = Math.Max(logitsError, ParityAssert.Relative(expected[..rows], actual[OnnxExport.LogitsName], label + " logits"));
                probabilitiesError = Math.Max(probabilitiesError,
                    ParityAssert.Relative(expectedProbabilities[..rows], actual[OnnxExport.ProbabilitiesName], label + " probabilities"));
                Assert.Equal(expectedLabels[..rows].data<long>().ToArray(), actual[OnnxExport.LabelName].data<long>().ToArray());
            }
        }
        return (logitsError, probabilitiesError);
    }

    /// <summary>The graph's interface: opset 17, input (N, C, S, S) float32, outputs (N, classes) float32 and (N) int64,
    /// with N symbolic.</summary>
    static void CheckContract(ModelProto onnx, VisionModel model)
    {
        Assert.Equal(OnnxExport.Opset, onnx.OpsetImport.Single(o => o.Domain == "").Version);
        var input = Assert.Single(onnx.Graph.Input);
        Assert.Equal(OnnxExport.InputName, input.Name);
        Assert.Equal((int)TensorProto.Types.DataType.Float, input.Type.TensorType.ElemType);
        Assert.Equal(["N", "3", $"{model.Options.ImageSize}", $"{model.Options.ImageSize}"], Dimensions(input));
        Assert.Equal([OnnxExport.ProbabilitiesName, OnnxExport.LabelName], onnx.Graph.Output.Select(o => o.Name));
        Assert.Equal(["N", $"{model.Options.NumClasses}"], Dimensions(onnx.Graph.Output[0]));
        Assert.Equal(["N"], Dimensions(onnx.Graph.Output[1]));
        Assert.Equal((int)TensorProto.Types.DataType.Int64, onnx.Graph.Output[1].Type.TensorType.ElemType);
    }

    static IEnumerable<string> Dimensions(ValueInfoProto value) =>
        value.Type.TensorType.Shape.Dim.Select(d => d.DimParam is { Length: > 0 } p ? p : d.DimValue.ToString());
}
