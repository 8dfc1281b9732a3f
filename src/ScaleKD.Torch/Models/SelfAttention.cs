using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>
/// Global multi-head self-attention over tokens (timm <c>Attention</c>: <c>qkv</c>, <c>proj</c>), computed with
/// scaled-dot-product attention.
/// </summary>
internal sealed class SelfAttention : nn.Module<Tensor, Tensor>
{
    readonly Linear qkv;
    readonly Linear proj;
    readonly int _heads;

    public SelfAttention(int dim, int heads, bool qkvBias = true) : base(nameof(SelfAttention))
    {
        if (dim % heads != 0)
            throw new ArgumentException($"Width {dim} is not divisible by {heads} heads.", nameof(heads));
        _heads = heads;
        qkv = nn.Linear(dim, 3 * dim, hasBias: qkvBias);
        proj = nn.Linear(dim, dim);
        RegisterComponents();
    }

    /// <param name="x">(N, L, D) tokens.</param>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (n, l, d) = (x.shape[0], x.shape[1], x.shape[2]);
        var parts = qkv.forward(x).reshape(n, l, 3, _heads, d / _heads).permute(2, 0, 3, 1, 4).unbind(0);
        var attended = nn.functional.scaled_dot_product_attention(parts[0], parts[1], parts[2]);
        return proj.forward(attended.transpose(1, 2).reshape(n, l, d)).MoveToOuterDisposeScope();
    }
}
