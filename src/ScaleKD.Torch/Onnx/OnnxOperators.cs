using Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ScaleKD.Torch.Onnx;

/// <summary>
/// The ONNX operators the importer runs: what classic CNN graphs (ResNet, VGG-style, CNTK and PyTorch exports) are
/// made of. Each reads its attributes when the graph is loaded, so a graph this importer cannot run fails then, naming
/// the node, the operator and the attribute, not in the middle of training.
/// </summary>
static class OnnxOperators
{
    /// <summary>The operator types this importer runs.</summary>
    public static readonly IReadOnlySet<string> Supported = new HashSet<string>(StringComparer.Ordinal)
    {
        "Conv", "BatchNormalization", "Relu", "Add", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Gemm",
        "Identity", "Dropout",
    };

    /// <summary>Builds the operator for <paramref name="node"/>, taking its weights from <paramref name="initializers"/>.</summary>
    public static OnnxOperator Create(NodeProto node, string name, IReadOnlyDictionary<string, TensorProto> initializers)
    {
        if (!string.IsNullOrEmpty(node.Domain) && node.Domain != "ai.onnx")
            throw new NotSupportedException($"ONNX node '{name}' is {node.Domain}:{node.OpType}; only the default operator domain is supported.");
        var attributes = new OnnxAttributes(node, name);
        return node.OpType switch
        {
            "Conv" => new ConvOperator(name, node, attributes, initializers),
            "BatchNormalization" => new BatchNormOperator(name, node, attributes, initializers),
            "Gemm" => new GemmOperator(name, node, attributes, initializers),
            "MaxPool" => new PoolOperator(name, node, attributes, max: true),
            "AveragePool" => new PoolOperator(name, node, attributes, max: false),
            "Relu" => new ElementwiseOperator(name, node, inputs => F.relu(inputs[0])),
            "Add" => new ElementwiseOperator(name, node, inputs => inputs[0] + inputs[1]),
            "GlobalAveragePool" => new ElementwiseOperator(name, node, inputs => inputs[0].mean([2, 3], keepdim: true)),
            "Flatten" => FlattenOperator(name, node, attributes),
            "Identity" or "Dropout" => new ElementwiseOperator(name, node, inputs => inputs[0]),
            _ => throw new NotSupportedException(
                $"ONNX node '{name}' uses operator {node.OpType}, which the importer does not support. Supported: {string.Join(", ", Supported.Order(StringComparer.Ordinal))}."),
        };
    }

    static ElementwiseOperator FlattenOperator(string name, NodeProto node, OnnxAttributes attributes)
    {
        var axis = attributes.Int("axis", 1);
        return new ElementwiseOperator(name, node, inputs =>
            inputs[0].reshape(inputs[0].shape.Take((int)axis).Aggregate(1L, (a, b) => a * b), -1));
    }
}

/// <summary>One node of an ONNX graph as a module: its weights (if any) are its parameters, named as in timm's
/// convention <c>weight</c>/<c>bias</c>, so a prepared teacher saves and loads as a state dict.</summary>
abstract class OnnxOperator(string name, NodeProto node) : nn.Module(name)
{
    /// <summary>The names of the graph values this node reads that are not its own weights, in order.</summary>
    public IReadOnlyList<string> DataInputs { get; protected init; } = [node.Input[0]];

    /// <summary>The name of the graph value this node writes (the first output; further outputs are training-time extras).</summary>
    public string Output { get; } = node.Output[0];

    /// <summary>The ONNX operator type.</summary>
    public string OpType { get; } = node.OpType;

    public abstract Tensor Run(IReadOnlyList<Tensor> inputs);

    protected static Tensor Weight(IReadOnlyDictionary<string, TensorProto> initializers, string node, string input, string role) =>
        initializers.TryGetValue(input, out var proto)
            ? OnnxTensors.ToTensor(proto)
            : throw new NotSupportedException($"ONNX node '{node}' takes its {role} from '{input}', which is not an initialiser; only constant weights are supported.");
}

sealed class ElementwiseOperator : OnnxOperator
{
    readonly Func<IReadOnlyList<Tensor>, Tensor> _run;

    public ElementwiseOperator(string name, NodeProto node, Func<IReadOnlyList<Tensor>, Tensor> run) : base(name, node)
    {
        DataInputs = node.Input.Where(i => i.Length > 0).ToList();
        _run = run;
    }

    public override Tensor Run(IReadOnlyList<Tensor> inputs) => _run(inputs);
}

/// <summary>Conv: 2-D, any group count; asymmetric pads (CNTK pads stride-2 convolutions top and left only) are
/// applied as an explicit zero pad.</summary>
sealed class ConvOperator : OnnxOperator
{
    readonly Parameter weight;
    readonly Parameter? bias;
    readonly long[] _strides;
    readonly long[] _dilations;
    readonly long _groups;
    readonly Padding2d _padding;

    public ConvOperator(string name, NodeProto node, OnnxAttributes attributes, IReadOnlyDictionary<string, TensorProto> initializers) : base(name, node)
    {
        var w = Weight(initializers, name, node.Input[1], "weight");
        if (w.dim() != 4)
            throw new NotSupportedException($"ONNX node '{name}' is a {w.dim() - 2}-D convolution; only 2-D is supported.");
        weight = nn.Parameter(w);
        bias = node.Input.Count > 2 && node.Input[2].Length > 0 ? nn.Parameter(Weight(initializers, name, node.Input[2], "bias")) : null;
        _strides = attributes.Ints("strides", [1, 1]);
        _dilations = attributes.Ints("dilations", [1, 1]);
        _groups = attributes.Int("group", 1);
        _padding = Padding2d.From(attributes);
        RegisterComponents();
    }

    public override Tensor Run(IReadOnlyList<Tensor> inputs) =>
        F.conv2d(_padding.Apply(inputs[0], 0), weight, bias, _strides, _padding.Symmetric, _dilations, _groups);
}

/// <summary>BatchNormalization (spatial): scale, bias, running mean and variance; inference statistics in eval mode,
/// batch statistics (and running updates) in training mode, as PyTorch's BatchNorm2d.</summary>
sealed class BatchNormOperator : OnnxOperator
{
    readonly Parameter weight;
    readonly Parameter bias;
    readonly Tensor running_mean;
    readonly Tensor running_var;
    readonly double _epsilon;

    public BatchNormOperator(string name, NodeProto node, OnnxAttributes attributes, IReadOnlyDictionary<string, TensorProto> initializers) : base(name, node)
    {
        if (attributes.Int("spatial", 1) != 1)
            throw new NotSupportedException($"ONNX node '{name}' is a per-activation BatchNormalization (spatial = 0); only spatial is supported.");
        weight = nn.Parameter(Weight(initializers, name, node.Input[1], "scale"));
        bias = nn.Parameter(Weight(initializers, name, node.Input[2], "bias"));
        running_mean = Weight(initializers, name, node.Input[3], "mean");
        running_var = Weight(initializers, name, node.Input[4], "variance");
        _epsilon = attributes.Float("epsilon", 1e-5f);
        RegisterComponents();
    }

    public override Tensor Run(IReadOnlyList<Tensor> inputs) =>
        F.batch_norm(inputs[0], running_mean, running_var, weight, bias, training, 0.1, _epsilon);
}

/// <summary>Gemm: alpha·A·B + beta·C with a constant B (and C), A of shape (N, K), optionally transposed B.</summary>
sealed class GemmOperator : OnnxOperator
{
    readonly Parameter weight;
    readonly Parameter? bias;

    public GemmOperator(string name, NodeProto node, OnnxAttributes attributes, IReadOnlyDictionary<string, TensorProto> initializers) : base(name, node)
    {
        if (attributes.Int("transA", 0) != 0)
            throw new NotSupportedException($"ONNX node '{name}' is a Gemm with transA = 1; only untransposed inputs are supported.");
        var alpha = attributes.Float("alpha", 1f);
        var beta = attributes.Float("beta", 1f);
        var b = Weight(initializers, name, node.Input[1], "weight");
        // Stored as PyTorch's Linear does, (out, in).
        weight = nn.Parameter((attributes.Int("transB", 0) != 0 ? b : b.t()).contiguous() * alpha);
        bias = node.Input.Count > 2 && node.Input[2].Length > 0 ? nn.Parameter(Weight(initializers, name, node.Input[2], "bias") * beta) : null;
        RegisterComponents();
    }

    public override Tensor Run(IReadOnlyList<Tensor> inputs) => F.linear(inputs[0], weight, bias);
}

/// <summary>MaxPool and AveragePool, 2-D, with ONNX's padding, ceil mode and (average) count_include_pad.</summary>
sealed class PoolOperator : OnnxOperator
{
    readonly bool _max;
    readonly long[] _kernel;
    readonly long[] _strides;
    readonly bool _ceilMode;
    readonly bool _countIncludePad;
    readonly Padding2d _padding;

    public PoolOperator(string name, NodeProto node, OnnxAttributes attributes, bool max) : base(name, node)
    {
        _max = max;
        _kernel = attributes.Ints("kernel_shape", null);
        if (_kernel.Length != 2)
            throw new NotSupportedException($"ONNX node '{name}' is a {_kernel.Length}-D pool; only 2-D is supported.");
        _strides = attributes.Ints("strides", [1, 1]);
        _ceilMode = attributes.Int("ceil_mode", 0) != 0;
        _countIncludePad = attributes.Int("count_include_pad", 0) != 0;
        if (attributes.Ints("dilations", [1, 1]).Any(d => d != 1))
            throw new NotSupportedException($"ONNX node '{name}' is a dilated pool; only dilation 1 is supported.");
        if (max && attributes.Int("storage_order", 0) != 0)
            throw new NotSupportedException($"ONNX node '{name}' asks for column-major indices (storage_order = 1).");
        _padding = Padding2d.From(attributes);
        if (!max && !_padding.IsSymmetric && !_countIncludePad)
            throw new NotSupportedException($"ONNX node '{name}' averages with asymmetric pads excluded from the count; not supported.");
    }

    public override Tensor Run(IReadOnlyList<Tensor> inputs)
    {
        var x = _padding.Apply(inputs[0], _max ? double.NegativeInfinity : 0);
        return _max
            ? F.max_pool2d(x, _kernel, _strides, _padding.Symmetric, ceil_mode: _ceilMode)
            : F.avg_pool2d(x, _kernel, _strides, _padding.Symmetric, _ceilMode, _countIncludePad || !_padding.IsSymmetric);
    }
}
