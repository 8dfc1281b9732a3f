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

    /// <summary>A small graph of every operator and attribute the importer runs, on a 3×17×17 input, and the values
    /// worth comparing besides its output (each operator's own output where a later one does not hide it).</summary>
    public static (TestGraph Graph, string[] Values) EveryOperator(int opset)
    {
        var g = new TestGraph(opset, channels: 3, size: 17, seed: opset);
        // Conv with bias and asymmetric pads, BN, ReLU; a grouped, dilated conv; a residual Add.
        var c1 = g.Node("Conv", ["image", g.Weight(8, 3, 3, 3), g.Weight(8)], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 0, 0));
        var b1 = g.Node("BatchNormalization", [c1, g.Weight(8), g.Weight(8), g.Weight(8), g.Constant(rand(8) + 0.5)], Float("epsilon", 1e-3f));
        var r1 = g.Node("Relu", [b1]);
        var c2 = g.Node("Conv", [r1, g.Weight(8, 2, 3, 3)], Ints("kernel_shape", 3, 3), Ints("pads", 2, 2, 2, 2), Ints("dilations", 2, 2), Int("group", 4));
        var a1 = g.Node("Add", [c2, r1]);
        // Max pool with asymmetric pads, average pools with and without the pads counted, an Add of a constant.
        var p1 = g.Node("MaxPool", [a1], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 0, 0));
        var p2 = g.Node("AveragePool", [p1], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1), Int("count_include_pad", 1));
        var p3 = g.Node("AveragePool", [p2], Ints("kernel_shape", 2, 2), Ints("pads", 1, 1, 1, 1));
        var k1 = g.Node("Add", [p3, g.Weight(1, 8, 1, 1)]);
        // Global pooling, Flatten, Gemm with transposed weights and scaled terms, Dropout and Identity pass through.
        var gp = g.Node("GlobalAveragePool", [k1]);
        var f1 = g.Node("Flatten", [gp], Int("axis", 1));
        var d1 = g.Node("Dropout", [f1]);
        var fc = g.Node("Gemm", [d1, g.Weight(5, 8), g.Weight(5)], Int("transB", 1), Float("alpha", 0.5f), Float("beta", 2f));
        g.Output(g.Node("Identity", [fc]));
        return (g, [c1, a1, p1, p2, p3]);
    }

    public string Save(string folder)
    {
        var path = Path.Combine(folder, $"graph{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, _model.ToByteArray());
        return path;
    }
}
