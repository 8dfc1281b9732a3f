using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Onnx.Export;

/// <summary>
/// Multi-head self-attention as ViT's <c>SelfAttention</c> and Swin's <c>WindowAttention</c> compute it with
/// scaled-dot-product attention: softmax(q·kᵀ/√d + bias)·v per head, then <c>proj</c>. Written as MatMul → Split →
/// Reshape/Transpose per head → MatMul → Add bias → Softmax → MatMul → Transpose/Reshape → MatMul (proj). Any number of
/// leading axes is kept (ViT: (N, L, D); Swin: (N, windows, L, D)), so the batch axis stays dynamic.
/// </summary>
static class AttentionExport
{
    /// <param name="x">Tokens (…, L, D) of rank <paramref name="rank"/>.</param>
    /// <param name="bias">A constant added to the scores (…, heads, L, L) before the softmax, or null.</param>
    public static string Write(OnnxLayers layers, string x, int rank, Linear qkv, Linear proj, int heads, string? bias, string path)
    {
        var g = layers.Graph;
        var dim = qkv.in_features;
        var headDim = dim / heads;
        string q, k, v;
        using (var scope = NewDisposeScope())
        {
            // The 1/√d scale of the scores is folded into the query rows of qkv, where it costs nothing per token.
            var scale = cat([full(dim, 1, 1 / Math.Sqrt(headDim), float64), ones(2 * dim, 1, float64)]);
            var weight = OnnxLayers.Float64(qkv.weight) * scale;
            var qkvBias = qkv.bias is { } b ? OnnxLayers.Float64(b) * scale.squeeze(1) : null;
            var projected = layers.Linear(x, weight, qkvBias, path + ".qkv");
            (q, k, v) = Split3(g, projected, dim, path);
        }
        long[] keep = Enumerable.Repeat(0L, rank - 2).ToArray();
        var leading = Enumerable.Range(0, rank - 2).Select(i => (long)i).ToArray();
        long r = rank;
        // (…, L, D) → (…, L, heads, d), then queries and values (…, heads, L, d), keys (…, heads, d, L).
        string Heads(string t, string name) => layers.Reshape(t, name + ".heads", [.. keep, 0, heads, headDim]);
        q = layers.Transpose(Heads(q, path + ".q"), path + ".q", [.. leading, r - 1, r - 2, r]);
        k = layers.Transpose(Heads(k, path + ".k"), path + ".k", [.. leading, r - 1, r, r - 2]);
        v = layers.Transpose(Heads(v, path + ".v"), path + ".v", [.. leading, r - 1, r - 2, r]);
        var scores = layers.MatMul(q, k, path + ".scores");
        if (bias is not null)
            scores = layers.Add(scores, bias, path + ".scores_biased");
        var attended = layers.MatMul(layers.Softmax(scores, path + ".softmax"), v, path + ".attended");
        attended = layers.Transpose(attended, path + ".attended_tokens", [.. leading, r - 1, r - 2, r]);
        attended = layers.Reshape(attended, path + ".merged", [.. keep, 0, dim]);
        return layers.Linear(attended, proj, path + ".proj");
    }

    static (string Q, string K, string V) Split3(OnnxGraphWriter g, string x, long dim, string path)
    {
        var parts = g.Node("Split", path + ".qkv_split", [x, g.Int64s("split", dim, dim, dim)], 3, OnnxGraphWriter.Int("axis", -1));
        return (parts[0], parts[1], parts[2]);
    }
}
