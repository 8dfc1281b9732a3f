using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace ScaleKD.Torch.Tests.Onnx;

/// <summary>Runs an ONNX model in ONNX Runtime, the importer's ground truth, with any intermediate values exposed as
/// extra outputs and the batch dimension made symbolic; and the exporter's graphs as they are.</summary>
static class OnnxRuntimeReference
{
    /// <summary>Runs an exported model unchanged but for <paramref name="values"/> exposed as extra outputs, once per
    /// input batch in one session (so batches of different sizes prove the batch axis dynamic), and returns every
    /// output as a float32 or int64 tensor.</summary>
    /// <param name="optimization">ORT_ENABLE_ALL is what a deployment gets by default (fused kernels); ORT_DISABLE_ALL
    /// runs the graph node by node as written.</param>
    public static List<Dictionary<string, Tensor>> RunExported(ModelProto model, IReadOnlyList<Tensor> inputs,
        GraphOptimizationLevel optimization, params string[] values)
    {
        var copy = model.Clone();
        foreach (var value in values.Where(v => copy.Graph.Output.All(o => o.Name != v)))
            copy.Graph.Output.Add(new ValueInfoProto { Name = value });
        var inputName = copy.Graph.Input.Single().Name;

        using var options = new SessionOptions { GraphOptimizationLevel = optimization };
        using var session = new InferenceSession(copy.ToByteArray(), options);
        return inputs.Select(input =>
        {
            var data = input.contiguous().data<float>().ToArray();
            var feed = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor(inputName, new DenseTensor<float>(data, input.shape.Select(d => (int)d).ToArray())) };
            using var results = session.Run(feed);
            return results.ToDictionary(r => r.Name, r => r.Value switch
            {
                Tensor<float> t => tensor(t.ToArray(), dtype: ScalarType.Float32).reshape(Dimensions(t)),
                Tensor<long> t => tensor(t.ToArray(), dtype: ScalarType.Int64).reshape(Dimensions(t)),
                var other => throw new InvalidDataException($"Output '{r.Name}' is a {other?.GetType().Name}, neither float32 nor int64."),
            });
        }).ToList();
    }

    static long[] Dimensions<T>(Tensor<T> t) => t.Dimensions.ToArray().Select(d => (long)d).ToArray();

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
