using ScaleKD.Torch.Models;
using TorchSharp.Modules;
using static ScaleKD.Torch.Onnx.Export.OnnxGraphWriter;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Onnx.Export;

/// <summary>
/// ViT (<see cref="VisionTransformer.ForwardStages"/>) as ONNX: the patch Conv → (N, L, D) tokens plus their position
/// embeddings; the class token plus its position embedding is one constant, Expanded to the batch (Shape → Concat →
/// Expand) and Concatenated in front; pre-norm blocks of LayerNormalization → attention → Add → LayerNormalization →
/// MLP → Add; then the class token is Gathered, normalised and classified (Gemm). Normalising only the class token is
/// exact: LayerNorm acts on each token alone.
/// </summary>
static class VisionTransformerExport
{
    public static string Logits(OnnxLayers layers, ModuleTree model, VisionTransformer vit, string images)
    {
        var g = layers.Graph;
        var dim = vit.Config.EmbedDim;
        var x = layers.Conv(images, model.Get<Conv2d>("patch_embed.proj"), null, "patch_embed.proj");
        x = layers.MapToTokens(x, dim, "patch_embed");
        string classToken;
        using (var scope = NewDisposeScope())
        {
            // Added in float32 as the model adds them: cat(cls, x) + pos_embed row by row.
            var position = model.Parameter("pos_embed").detach();
            x = layers.Add(x, g.Constant("pos_embed.patches", position[.., 1..]), "pos_embed");
            classToken = g.Constant("cls_token.pos_embed", model.Parameter("cls_token").detach() + position[.., ..1]);
        }
        var batch = g.Node("Shape", "batch_size", [images], Int("start", 0), Int("end", 1));
        var shape = g.Node("Concat", "cls_token.shape", [batch, g.Int64s("token_shape", 1, dim)], Int("axis", 0));
        var classTokens = g.Node("Expand", "cls_token", [classToken, shape]);
        x = g.Node("Concat", "tokens", [classTokens, x], Int("axis", 1));

        var blocks = model.Count("blocks");
        for (var b = 0; b < blocks; b++)
        {
            var path = $"blocks.{b}";
            var y = layers.LayerNorm(x, model.Get<LayerNorm>(path + ".norm1"), path + ".norm1");
            y = AttentionExport.Write(layers, y, 3, model.Get<Linear>(path + ".attn.qkv"), model.Get<Linear>(path + ".attn.proj"),
                vit.Config.NumHeads, bias: null, path + ".attn");
            x = layers.Add(x, y, path + ".attn.residual");
            x = layers.Add(x, TokenMlpExport.Write(layers, model, layers.LayerNorm(x, model.Get<LayerNorm>(path + ".norm2"), path + ".norm2"), path + ".mlp"), path);
        }
        var cls = g.Node("Gather", "pre_logits.token", [x, g.Int64s("index_0", [0], [])], Int("axis", 1));
        cls = layers.LayerNorm(cls, model.Get<LayerNorm>("norm"), "norm");
        return layers.Linear(cls, model.Get<Linear>("head"), "head", matrixInput: true);
    }
}
