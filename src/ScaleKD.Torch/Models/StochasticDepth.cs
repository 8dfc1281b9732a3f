using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>
/// Stochastic depth for residual branches (timm <c>DropPath</c>): in training, zeroes the whole branch of each sample
/// with probability <c>p</c> and scales the kept ones by 1/(1−p); the identity in eval mode or when p is 0.
/// </summary>
internal sealed class StochasticDepth : nn.Module<Tensor, Tensor>
{
    readonly double _p;

    public StochasticDepth(double p) : base(nameof(StochasticDepth))
    {
        if (p < 0 || p >= 1)
            throw new ArgumentOutOfRangeException(nameof(p), p, "The drop-path rate must be in [0, 1).");
        _p = p;
    }

    public override Tensor forward(Tensor x)
    {
        if (!training || _p == 0)
            return x;
        var keep = 1 - _p;
        var shape = new long[x.dim()];
        Array.Fill(shape, 1L);
        shape[0] = x.shape[0];
        using var mask = empty(shape, x.dtype, x.device).bernoulli_(keep).div_(keep);
        return x * mask;
    }

    /// <summary>Rates rising linearly from 0 to <paramref name="rate"/> over <paramref name="count"/> blocks (timm's rule).</summary>
    public static double[] LinearRates(double rate, int count) =>
        Enumerable.Range(0, count).Select(i => count == 1 ? 0.0 : rate * i / (count - 1)).ToArray();
}
