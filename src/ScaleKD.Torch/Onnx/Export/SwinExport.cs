using ScaleKD.Torch.Models;
using TorchSharp.Modules;
using static ScaleKD.Torch.Onnx.Export.OnnxGraphWriter;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Onnx.Export;

/// <summary>
/// Swin (<see cref="Swin.ForwardStages"/>) as ONNX, on (N, H·W, C) tokens throughout: the patch Conv → tokens →
/// LayerNormalization; per stage after the first, patch merging as Reshape → Transpose → Reshape (the 2×2 neighbours
/// in timm's order) → LayerNormalization → MatMul; per block LayerNormalization → [Pad one zero token] → Gather
/// (shift + pad + partition, <see cref="SwinWindows"/>) → Reshape to (N, windows, area, C) → window attention with the
/// bias-and-mask constant → Reshape → Gather (merge + crop + reverse shift) → Add → LayerNormalization → MLP → Add;
/// then the final LayerNormalization → ReduceMean over tokens → Gemm.
/// </summary>
static class SwinExport
{
    public static string Logits(OnnxLayers layers, ModuleTree model, Swin swin, string images)
    {
        var shapes = swin.StageShapes();
        var x = layers.Conv(images, model.Get<Conv2d>("patch_embed.proj"), null, "patch_embed.proj");
        x = layers.MapToTokens(x, shapes[0].Channels, "patch_embed.tokens");
        x = layers.LayerNorm(x, model.Get<LayerNorm>("patch_embed.norm"), "patch_embed.norm");
        for (var s = 0; s < shapes.Count; s++)
        {
            var (channels, resolution) = (shapes[s].Channels, shapes[s].Height);
            if (model.Has($"layers.{s}.downsample"))
                x = PatchMerging(layers, model, x, 2 * resolution, shapes[s - 1].Channels, $"layers.{s}.downsample");
            var blocks = model.Count($"layers.{s}.blocks");
            for (var b = 0; b < blocks; b++)
                x = Block(layers, model, x, resolution, channels, $"layers.{s}.blocks.{b}");
        }
        x = layers.LayerNorm(x, model.Get<LayerNorm>("norm"), "norm");
        var pooled = layers.ReduceMean(x, "global_pool", keepDims: false, 1);
        return layers.Linear(pooled, model.Get<Linear>("head.fc"), "head.fc", matrixInput: true);
    }

    /// <summary>(N, R², C) → (N, R²/4, C'): concatenates each 2×2 neighbourhood as the model's reshape/permute does
    /// (channel blocks in the order (0,0), (1,0), (0,1), (1,1) by row, column), then norm and reduction.</summary>
    static string PatchMerging(OnnxLayers layers, ModuleTree model, string x, int resolution, int channels, string path)
    {
        var half = resolution / 2;
        x = layers.Reshape(x, path + ".grid", 0, half, 2, half, 2, channels);
        x = layers.Transpose(x, path + ".gather", 0, 1, 3, 4, 2, 5);
        x = layers.Reshape(x, path + ".merged", 0, half * half, 4 * channels);
        x = layers.LayerNorm(x, model.Get<LayerNorm>(path + ".norm"), path + ".norm");
        return layers.Linear(x, model.Get<Linear>(path + ".reduction"), path + ".reduction");
    }

    static string Block(OnnxLayers layers, ModuleTree model, string x, int resolution, int channels, string path)
    {
        var g = layers.Graph;
        var block = model.Get<SwinBlock>(path);
        var windows = SwinWindows.Of(block, resolution);
        var y = layers.LayerNorm(x, model.Get<LayerNorm>(path + ".norm1"), path + ".norm1");
        if (!windows.Identity)
        {
            if (windows.Padded) // the zero token that padded window positions read, appended after the norm as the model pads
                y = g.Node("Pad", path + ".pad", [y, g.Int64s("pad_one_token", 0, 0, 0, 0, 1, 0)]);
            y = g.Node("Gather", path + ".partition", [y, g.Int64s(path + ".partition_index", windows.Partition)], Int("axis", 1));
        }
        y = layers.Reshape(y, path + ".windows", 0, windows.Windows, windows.Area, channels);
        string bias;
        using (var scope = NewDisposeScope())
            bias = g.Constant(path + ".attn.bias", SwinWindows.AttentionBias(block, model.Parameter(path + ".attn.relative_position_bias_table")));
        var heads = (int)model.Parameter(path + ".attn.relative_position_bias_table").shape[1];
        y = AttentionExport.Write(layers, y, 4, model.Get<Linear>(path + ".attn.qkv"), model.Get<Linear>(path + ".attn.proj"), heads, bias, path + ".attn");
        y = layers.Reshape(y, path + ".windows_merged", 0, -1, channels);
        if (!windows.Identity)
            y = g.Node("Gather", path + ".merge", [y, g.Int64s(path + ".merge_index", windows.Merge)], Int("axis", 1));
        x = layers.Add(x, y, path + ".attn.residual");
        return layers.Add(x, TokenMlpExport.Write(layers, model, layers.LayerNorm(x, model.Get<LayerNorm>(path + ".norm2"), path + ".norm2"), path + ".mlp"), path);
    }
}
