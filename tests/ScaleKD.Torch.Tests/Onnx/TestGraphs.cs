using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Onnx;

/// <summary>Writes small ONNX graphs with random weights, node by node, for the importer's tests.</summary>
sealed class TestGraph
{
    readonly ModelProto _model;
    readonly Generator _random;
    int _counter;

    public TestGraph(int opset, long channels, long size, int seed)
    {
        _random = new Generator((ulong)seed);
        _model = new ModelProto { IrVersion = 7, ProducerName = "ScaleKD tests", Graph = new GraphProto { Name = "test" } };
        _model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        var input = new ValueInfoProto { Name = "image", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = new TensorShapeProto() } } };
        foreach (var d in new[] { 1, channels, size, size })
            input.Type.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        _model.Graph.Input.Add(input);
    }

    public ModelProto Model => _model;

    public string Weight(params long[] shape) => Constant(randn(shape, generator: _random) * 0.3);

    public string Constant(Tensor value)
    {
        var name = $"w{_counter++}";
        _model.Graph.Initializer.Add(ScaleKD.Torch.Onnx.OnnxTensors.FromTensor(name, value));
        return name;
    }

    public string Node(string op, string[] inputs, params AttributeProto[] attributes)
    {
        var output = $"v{_counter++}";
        var node = new NodeProto { OpType = op, Name = $"{op}_{_counter}" };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        _model.Graph.Node.Add(node);
        return output;
    }

    public void Output(string value) => _model.Graph.Output.Add(new ValueInfoProto { Name = value });

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public string Save(string folder)
    {
        var path = Path.Combine(folder, $"graph{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, _model.ToByteArray());
        return path;
    }
}
