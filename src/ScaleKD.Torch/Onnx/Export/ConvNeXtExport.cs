using ScaleKD.Torch.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Onnx.Export;

/// <summary>
/// ConvNeXt (<see cref="ConvNeXt.ForwardStages"/>) as ONNX. ONNX's Conv wants NCHW and LayerNormalization normalises
/// trailing axes, so every LayerNorm over channels sits between Transposes to NHWC and back, as the model's own
/// permutes do: the stem Conv → LayerNorm2d; per stage an optional LayerNorm2d → 2×2/2 Conv; per block the depthwise
/// 7×7 Conv → NHWC → LayerNormalization → MatMul (fc1) → exact GELU → MatMul (fc2, with the layer scale γ folded in) →
/// NCHW → Add; the head GlobalAveragePool → Flatten → LayerNormalization → Gemm.
/// </summary>
static class ConvNeXtExport
{
    public static string Logits(OnnxLayers layers, ModuleTree model, string images)
    {
        var x = layers.Conv(images, model.Get<Conv2d>("stem.0"), null, "stem.0");
        x = LayerNorm2d(layers, model, x, "stem.1");
        var stages = model.Count("stages");
        for (var s = 0; s < stages; s++)
        {
            if (model.Has($"stages.{s}.downsample"))
            {
                x = LayerNorm2d(layers, model, x, $"stages.{s}.downsample.0");
                x = layers.Conv(x, model.Get<Conv2d>($"stages.{s}.downsample.1"), null, $"stages.{s}.downsample.1");
            }
            var blocks = model.Count($"stages.{s}.blocks");
            for (var b = 0; b < blocks; b++)
                x = Block(layers, model, x, $"stages.{s}.blocks.{b}");
        }
        var pooled = layers.GlobalAveragePool(x, "head.global_pool");
        // LayerNorm2d on the (N, C, 1, 1) pooled map normalises the C values of each image: LayerNorm of (N, C).
        var norm = model.Get<LayerNorm2d>("head.norm");
        pooled = layers.LayerNorm(pooled, model.Parameter("head.norm.weight"), model.Parameter("head.norm.bias"), norm.Eps, "head.norm");
        return layers.Linear(pooled, model.Get<Linear>("head.fc"), "head.fc", matrixInput: true);
    }

    static string Block(OnnxLayers layers, ModuleTree model, string x, string path)
    {
        var branch = layers.Conv(x, model.Get<Conv2d>(path + ".conv_dw"), null, path + ".conv_dw");
        branch = layers.Transpose(branch, path + ".to_nhwc", 0, 2, 3, 1);
        branch = layers.LayerNorm(branch, model.Get<LayerNorm>(path + ".norm"), path + ".norm");
        branch = layers.Gelu(layers.Linear(branch, model.Get<Linear>(path + ".mlp.fc1"), path + ".mlp.fc1"), path + ".mlp.act");
        // γ·(h·W₂ᵀ + b₂) = h·(γ⊙W₂)ᵀ + γ⊙b₂: the layer scale costs no node.
        using (var scope = NewDisposeScope())
        {
            var fc2 = model.Get<Linear>(path + ".mlp.fc2");
            var gamma = OnnxLayers.Float64(model.Parameter(path + ".gamma"));
            var weight = OnnxLayers.Float64(fc2.weight) * gamma.unsqueeze(1);
            var bias = OnnxLayers.Float64(fc2.bias!) * gamma;
            branch = layers.Linear(branch, weight, bias, path + ".mlp.fc2");
        }
        branch = layers.Transpose(branch, path + ".to_nchw", 0, 3, 1, 2);
        return layers.Add(branch, x, path);
    }

    /// <summary>timm's LayerNorm2d: LayerNorm over the channels of an NCHW map, via NHWC.</summary>
    static string LayerNorm2d(OnnxLayers layers, ModuleTree model, string x, string path)
    {
        var norm = model.Get<LayerNorm2d>(path);
        var nhwc = layers.Transpose(x, path + ".to_nhwc", 0, 2, 3, 1);
        nhwc = layers.LayerNorm(nhwc, model.Parameter(path + ".weight"), model.Parameter(path + ".bias"), norm.Eps, path);
        return layers.Transpose(nhwc, path + ".to_nchw", 0, 3, 1, 2);
    }
}
