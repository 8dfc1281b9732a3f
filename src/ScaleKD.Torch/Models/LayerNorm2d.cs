using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>
/// LayerNorm over the channels of an (N, C, H, W) map (timm <c>LayerNorm2d</c>, eps 1e-6): normalises each position's
/// channel vector. Owns <c>weight</c> and <c>bias</c> directly so the keys are <c>…norm.weight</c> as in timm.
/// </summary>
internal sealed class LayerNorm2d : nn.Module<Tensor, Tensor>
{
    readonly Parameter weight;
    readonly Parameter bias;
    readonly long[] _normalizedShape;

    public LayerNorm2d(long channels, double eps = 1e-6) : base(nameof(LayerNorm2d))
    {
        weight = nn.Parameter(ones(channels));
        bias = nn.Parameter(zeros(channels));
        _normalizedShape = [channels];
        Eps = eps;
        RegisterComponents();
    }

    /// <summary>Added to the variance; timm uses 1e-6 where PyTorch's default is 1e-5.</summary>
    public double Eps { get; }

    public override Tensor forward(Tensor x) =>
        nn.functional.layer_norm(x.permute(0, 2, 3, 1), _normalizedShape, weight, bias, Eps).permute(0, 3, 1, 2);
}
