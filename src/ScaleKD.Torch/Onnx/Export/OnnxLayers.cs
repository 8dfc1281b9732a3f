using TorchSharp.Modules;
using static ScaleKD.Torch.Onnx.Export.OnnxGraphWriter;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Onnx.Export;

/// <summary>
/// The layers the students are built from, as ONNX opset-17 nodes whose results equal TorchSharp's eval-mode forward.
/// Weights are read from the modules themselves; folding arithmetic (batch norm into convolutions, scales into linear
/// maps) is done in float64 and rounded once to float32, so it adds no more error than TorchSharp's own float32 ops.
/// </summary>
sealed class OnnxLayers(OnnxGraphWriter graph)
{
    public OnnxGraphWriter Graph => graph;

    /// <summary>A convolution, with the eval-mode batch norm that follows it folded in when <paramref name="norm"/> is
    /// given: y = γ·(conv(x) + b − μ)/√(σ² + ε) + β becomes one Conv with weight W·s and bias (b − μ)·s + β, where
    /// s = γ/√(σ² + ε). Folding saves a full pass over every activation map at the cost of nothing.</summary>
    public string Conv(string x, Conv2d conv, BatchNorm2d? norm, string name)
    {
        if (conv.padding_mode != TorchSharp.PaddingModes.Zeros || conv.padding is null)
            throw new NotSupportedException($"Convolution '{name}' pads by {conv.padding_mode} ({conv.padding_type}); the exporter writes zero padding only.");
        using var scope = NewDisposeScope();
        var weight = Float64(conv.weight);
        var bias = conv.bias is { } b ? Float64(b) : zeros(conv.out_channels, float64);
        if (norm is not null)
        {
            if (norm.running_mean is null || norm.running_var is null)
                throw new NotSupportedException($"Batch norm after '{name}' keeps no running statistics; its eval-mode output depends on the batch.");
            var scale = 1 / (Float64(norm.running_var) + norm.eps).sqrt();
            if (norm.affine)
                scale *= Float64(norm.weight);
            weight *= scale.view(-1, 1, 1, 1);
            bias = (bias - Float64(norm.running_mean)) * scale;
            if (norm.affine)
                bias += Float64(norm.bias!);
        }
        var (ph, pw) = (conv.padding[0], conv.padding[1]);
        return graph.Node("Conv", name, [x, graph.Constant(name + ".weight", weight), graph.Constant(name + ".bias", bias)],
            Ints("kernel_shape", conv.kernel_size), Ints("strides", conv.stride), Ints("pads", ph, pw, ph, pw),
            Ints("dilations", conv.dilation), Int("group", conv.groups));
    }

    public string Relu(string x, string name) => graph.Node("Relu", name, [x]);

    /// <summary>min(max(x, 0), 6), MobileNet's activation.</summary>
    public string Relu6(string x, string name) =>
        graph.Node("Clip", name, [x, graph.Scalar("zero", 0f), graph.Scalar("six", 6f)]);

    /// <summary>PyTorch's exact GELU, x·Φ(x) = 0.5·x·(1 + erf(x/√2)), written in the form ONNX Runtime fuses into one
    /// Gelu kernel (Div by √2, Erf, Add 1, Mul x, Mul 0.5); opset 17 has no Gelu operator.</summary>
    public string Gelu(string x, string name)
    {
        var scaled = graph.Node("Div", name + ".div", [x, graph.Scalar("sqrt2", MathF.Sqrt(2f))]);
        var erf = graph.Node("Erf", name + ".erf", [scaled]);
        var onePlus = graph.Node("Add", name + ".add", [erf, graph.Scalar("one", 1f)]);
        var product = graph.Node("Mul", name + ".mul", [x, onePlus]);
        return graph.Node("Mul", name, [product, graph.Scalar("half", 0.5f)]);
    }

    /// <summary>A linear map of the last axis, y = x·Wᵀ + b.</summary>
    public string Linear(string x, Linear linear, string name, bool matrixInput = false) =>
        Linear(x, linear.weight, linear.bias, name, matrixInput);

    /// <summary>y = x·Wᵀ + b for a weight (out, in) and optional bias (out). A 2-D input becomes one Gemm; any other
    /// rank a MatMul against the stored Wᵀ plus an Add (ONNX Runtime fuses the two).</summary>
    public string Linear(string x, Tensor weight, Tensor? bias, string name, bool matrixInput = false)
    {
        if (matrixInput)
        {
            var inputs = new List<string> { x, graph.Constant(name + ".weight", weight) };
            if (bias is not null)
                inputs.Add(graph.Constant(name + ".bias", bias));
            return graph.Node("Gemm", name, inputs, Int("transB", 1));
        }
        using var transposed = weight.detach().t();
        var product = graph.Node("MatMul", bias is null ? name : name + ".matmul", [x, graph.Constant(name + ".weight_t", transposed)]);
        return bias is null ? product : graph.Node("Add", name, [product, graph.Constant(name + ".bias", bias)]);
    }

    /// <summary>LayerNorm over the last axis (opset 17's LayerNormalization, float32 statistics as PyTorch's).</summary>
    public string LayerNorm(string x, LayerNorm norm, string name) =>
        LayerNorm(x, norm.weight, norm.bias, norm.eps, name);

    public string LayerNorm(string x, Tensor weight, Tensor? bias, double eps, string name)
    {
        var inputs = new List<string> { x, graph.Constant(name + ".weight", weight) };
        if (bias is not null)
            inputs.Add(graph.Constant(name + ".bias", bias));
        return graph.Node("LayerNormalization", name, inputs, Int("axis", -1), Float("epsilon", (float)eps));
    }

    public string Add(string a, string b, string name) => graph.Node("Add", name, [a, b]);

    public string MatMul(string a, string b, string name) => graph.Node("MatMul", name, [a, b]);

    /// <summary>A reshape to a constant shape; 0 copies that dimension from the input (the dynamic batch axis).</summary>
    public string Reshape(string x, string name, params long[] shape) =>
        graph.Node("Reshape", name, [x, graph.Int64s("shape", shape)]);

    public string Transpose(string x, string name, params long[] permutation) =>
        graph.Node("Transpose", name, [x], Ints("perm", permutation));

    public string Softmax(string x, string name, long axis = -1) => graph.Node("Softmax", name, [x], Int("axis", axis));

    /// <summary>The mean over <paramref name="axes"/> (opset 17: axes as an attribute).</summary>
    public string ReduceMean(string x, string name, bool keepDims, params long[] axes) =>
        graph.Node("ReduceMean", name, [x], Ints("axes", axes), Int("keepdims", keepDims ? 1 : 0));

    /// <summary>(N, C, H, W) → (N, C): the spatial mean, as <c>x.mean([2, 3])</c>.</summary>
    public string GlobalAveragePool(string x, string name)
    {
        var pooled = graph.Node("GlobalAveragePool", name + ".pool", [x]);
        return graph.Node("Flatten", name, [pooled], Int("axis", 1));
    }

    /// <summary>(N, C, H, W) → (N, H·W, C): tokens in row-major order, as <c>flatten(2).transpose(1, 2)</c>.</summary>
    public string MapToTokens(string map, long channels, string name) =>
        Transpose(Reshape(map, name + ".flatten", 0, channels, -1), name, 0, 2, 1);

    /// <summary>A detached float64 CPU copy, for folding.</summary>
    public static Tensor Float64(Tensor t) => t.detach().cpu().to(float64);
}
