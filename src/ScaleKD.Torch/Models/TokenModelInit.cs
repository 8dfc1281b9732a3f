using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>timm's weight initialisers, for models trained from scratch (students); loaded weights replace them.</summary>
internal static class TokenModelInit
{
    /// <summary>timm <c>trunc_normal_</c>: N(0, std²) cut at ±2 (absolute, as timm does).</summary>
    public static void TruncNormal(Tensor tensor, double std)
    {
        TruncatedNormal.Fill(tensor, std);
    }

    /// <summary>timm <c>lecun_normal_</c>: a truncated normal (±2σ) with variance 1/fan_in.</summary>
    public static void LecunNormal(Tensor tensor)
    {
        var fanIn = tensor.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        var std = Math.Sqrt(1.0 / fanIn) / .87962566103423978;
        TruncatedNormal.Fill(tensor, std, a: -2 * std, b: 2 * std);
    }

    /// <summary>timm <c>init_weights_vit_timm</c> on every Linear below <paramref name="module"/>: weights ~ trunc-normal(0.02), zero biases.</summary>
    public static void VitLinears(nn.Module module)
    {
        using var _ = no_grad();
        foreach (var (_, child) in module.named_modules())
        {
            if (child is TorchSharp.Modules.Linear linear)
            {
                TruncatedNormal.Fill(linear.weight, .02);
                if (linear.bias is not null)
                    nn.init.zeros_(linear.bias);
            }
        }
    }
}
