using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ScaleKD.Torch.Tests.Onnx;

/// <summary>Runs an ONNX model in ONNX Runtime, the importer's ground truth, with any intermediate values exposed as
/// extra outputs and the batch dimension made symbolic.</summary>
static class OnnxRuntimeReference
{
    public static Dictionary<string, Tensor> Run(ModelProto model, Tensor input, params string[] values)
    {
        var copy = model.Clone();
        var graph = copy.Graph;
        var inputInfo = graph.Input.First(i => graph.Initializer.All(t => t.Name != i.Name));
        if (inputInfo.Type?.TensorType?.Shape is { Dim.Count: > 0 } shape)
            shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimParam = "N" };
        foreach (var output in graph.Output)
            output.Type = null;
        foreach (var value in values.Where(v => graph.Output.All(o => o.Name != v)))
            graph.Output.Add(new ValueInfoProto { Name = value });

        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(copy.ToByteArray(), options);
        var data = input.contiguous().data<float>().ToArray();
        var feed = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor(inputInfo.Name, new DenseTensor<float>(data, input.shape.Select(d => (int)d).ToArray())) };
        using var results = session.Run(feed);
        return results.ToDictionary(r => r.Name, r =>
        {
            var t = r.AsTensor<float>();
            return tensor(t.ToArray(), dtype: ScalarType.Float32).reshape(t.Dimensions.ToArray().Select(d => (long)d).ToArray());
        });
    }
}
