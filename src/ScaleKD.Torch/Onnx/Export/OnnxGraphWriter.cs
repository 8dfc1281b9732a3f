using Onnx;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Onnx.Export;

/// <summary>
/// Builds one ONNX graph node by node with OnnxSharp's protobuf classes: every value gets a unique name derived from
/// the module it comes from (e.g. <c>layer1.0.conv1</c>), so that an exported graph reads like the model's state dict
/// in a viewer such as Netron. Nodes are appended in evaluation order, which keeps the graph topologically sorted.
/// </summary>
sealed class OnnxGraphWriter
{
    readonly GraphProto _graph;
    readonly HashSet<string> _names = new(StringComparer.Ordinal);
    // Shape, index and scalar constants recur (every Reshape of a block has the same target, every GELU the same
    // √2); one initialiser each.
    readonly Dictionary<string, string> _int64Constants = new(StringComparer.Ordinal);
    readonly Dictionary<float, string> _scalars = [];

    public OnnxGraphWriter(string name) => _graph = new GraphProto { Name = name };

    public GraphProto Graph => _graph;

    /// <summary>Declares a float32 graph input; a null dimension is the symbolic batch axis <paramref name="batchAxis"/>.</summary>
    public string Input(string name, string batchAxis, params long?[] shape)
    {
        Claim(name);
        _graph.Input.Add(ValueInfo(name, TensorProto.Types.DataType.Float, batchAxis, shape));
        return name;
    }

    /// <summary>Declares <paramref name="value"/> a graph output under <paramref name="name"/> (an Identity renames it).</summary>
    public void Output(string value, string name, TensorProto.Types.DataType type, string batchAxis, params long?[] shape)
    {
        if (value != name)
        {
            Claim(name);
            var node = new NodeProto { OpType = "Identity", Name = name + "/Identity" };
            node.Input.Add(value);
            node.Output.Add(name);
            _graph.Node.Add(node);
        }
        _graph.Output.Add(ValueInfo(name, type, batchAxis, shape));
    }

    /// <summary>A float32 initialiser holding <paramref name="value"/> (copied to the CPU).</summary>
    public string Constant(string hint, Tensor value)
    {
        var name = Unique(hint);
        _graph.Initializer.Add(OnnxTensors.FromTensor(name, value));
        return name;
    }

    /// <summary>A float32 scalar initialiser (rank 0), for element-wise arithmetic; one per value.</summary>
    public string Scalar(string hint, float value)
    {
        if (_scalars.TryGetValue(value, out var existing))
            return existing;
        using var scalar = tensor(value);
        return _scalars[value] = Constant(hint, scalar);
    }

    /// <summary>A 1-D int64 initialiser (shapes, axes, indices), shared by every node that needs the same values.</summary>
    public string Int64s(string hint, params long[] values) => Int64s(hint, values, [values.LongLength]);

    /// <summary>An int64 initialiser of any shape; identical values are stored once.</summary>
    public string Int64s(string hint, long[] values, long[] shape)
    {
        var key = string.Join(",", shape) + ":" + string.Join(",", values);
        if (_int64Constants.TryGetValue(key, out var existing))
            return existing;
        var name = Unique(hint);
        _graph.Initializer.Add(OnnxTensors.FromInt64(name, values, shape));
        _int64Constants[key] = name;
        return name;
    }

    /// <summary>Appends a node with one output, named after <paramref name="hint"/>, and returns that output.</summary>
    public string Node(string op, string hint, IEnumerable<string> inputs, params AttributeProto[] attributes) =>
        Node(op, hint, inputs, 1, attributes)[0];

    /// <summary>Appends a node with <paramref name="outputs"/> outputs and returns them.</summary>
    public string[] Node(string op, string hint, IEnumerable<string> inputs, int outputs, params AttributeProto[] attributes)
    {
        var names = Enumerable.Range(0, outputs).Select(i => Unique(outputs == 1 ? hint : $"{hint}:{i}")).ToArray();
        var node = new NodeProto { OpType = op, Name = names[0] + "/" + op };
        node.Input.AddRange(inputs);
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return names;
    }

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    string Unique(string hint)
    {
        var name = hint;
        for (var i = 1; !_names.Add(name); i++)
            name = $"{hint}_{i}";
        return name;
    }

    void Claim(string name)
    {
        if (!_names.Add(name))
            throw new InvalidOperationException($"The ONNX graph already has a value named '{name}'.");
    }

    static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, string batchAxis, long?[] shape)
    {
        var tensorShape = new TensorShapeProto();
        foreach (var dim in shape)
            tensorShape.Dim.Add(dim is long d
                ? new TensorShapeProto.Types.Dimension { DimValue = d }
                : new TensorShapeProto.Types.Dimension { DimParam = batchAxis });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = tensorShape } },
        };
    }
}
