using ScaleKD.Torch.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Onnx.Export;

/// <summary>
/// MLP-Mixer (<see cref="Mixer.ForwardStages"/>) as ONNX: the patch Conv → (N, L, D) tokens; per block
/// LayerNormalization → token MLP → Add → LayerNormalization → channel MLP → Add; the final LayerNormalization →
/// ReduceMean over tokens → Gemm. The token MLP mixes along L: instead of transposing to (N, D, L) and back, as the
/// model does, its weights multiply from the left (W₁·y for y of shape (N, L, D)), which gives the same sums without
/// the two Transposes.
/// </summary>
static class MixerExport
{
    public static string Logits(OnnxLayers layers, ModuleTree model, Mixer mixer, string images)
    {
        var x = layers.Conv(images, model.Get<Conv2d>("stem.proj"), null, "stem.proj");
        x = layers.MapToTokens(x, mixer.Config.EmbedDim, "stem");
        var blocks = model.Count("blocks");
        for (var b = 0; b < blocks; b++)
        {
            var path = $"blocks.{b}";
            var mixed = TokenMlp(layers, model, layers.LayerNorm(x, model.Get<LayerNorm>(path + ".norm1"), path + ".norm1"), path + ".mlp_tokens");
            x = layers.Add(x, mixed, path + ".tokens");
            var y = layers.LayerNorm(x, model.Get<LayerNorm>(path + ".norm2"), path + ".norm2");
            x = layers.Add(x, TokenMlpExport.Write(layers, model, y, path + ".mlp_channels"), path);
        }
        x = layers.LayerNorm(x, model.Get<LayerNorm>("norm"), "norm");
        var pooled = layers.ReduceMean(x, "global_pool", keepDims: false, 1);
        return layers.Linear(pooled, model.Get<Linear>("head"), "head", matrixInput: true);
    }

    /// <summary>fc2(GELU(fc1(yᵀ)))ᵀ for y (N, L, D) = W₂·GELU(W₁·y + b₁) + b₂ with the biases as columns.</summary>
    static string TokenMlp(OnnxLayers layers, ModuleTree model, string y, string path)
    {
        var g = layers.Graph;
        var fc1 = model.Get<Linear>(path + ".fc1");
        var fc2 = model.Get<Linear>(path + ".fc2");
        using var scope = NewDisposeScope();
        var h = g.Node("MatMul", path + ".fc1.matmul", [g.Constant(path + ".fc1.weight", fc1.weight), y]);
        h = layers.Add(h, g.Constant(path + ".fc1.bias", fc1.bias!.detach().unsqueeze(1)), path + ".fc1");
        h = layers.Gelu(h, path + ".act");
        h = g.Node("MatMul", path + ".fc2.matmul", [g.Constant(path + ".fc2.weight", fc2.weight), h]);
        return layers.Add(h, g.Constant(path + ".fc2.bias", fc2.bias!.detach().unsqueeze(1)), path + ".fc2");
    }
}
