using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>LayerNorm over the channels of an NCHW map at each position (timm's <c>LayerNorm2d</c>; names weight, bias).</summary>
public sealed class LayerNorm2d : nn.Module<Tensor, Tensor>
{
    readonly long[] _shape;
    readonly double _eps;
    readonly Parameter weight;
    readonly Parameter bias;

    /// <summary>Creates the norm with unit scale and zero shift.</summary>
    public LayerNorm2d(long channels, double eps = 1e-6) : base(nameof(LayerNorm2d))
    {
        _shape = [channels];
        _eps = eps;
        weight = nn.Parameter(ones(channels));
        bias = nn.Parameter(zeros(channels));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input) =>
        nn.functional.layer_norm(input.permute(0, 2, 3, 1), _shape, weight, bias, _eps).permute(0, 3, 1, 2);
}
