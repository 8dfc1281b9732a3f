using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>
/// Stochastic depth (timm <c>DropPath</c>): while training, drops a residual branch for whole samples with
/// probability <see cref="Probability"/> and scales the kept ones by 1/(1−p) so the expected output is unchanged.
/// An identity in eval mode. It has no parameters, so it adds no state-dict keys.
/// </summary>
internal sealed class DropPath : nn.Module<Tensor, Tensor>
{
    public DropPath(double probability) : base(nameof(DropPath))
    {
        if (probability is < 0 or >= 1)
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "A drop-path probability must lie in [0, 1).");
        Probability = probability;
    }

    public double Probability { get; }

    public override Tensor forward(Tensor x)
    {
        if (Probability == 0 || !training)
            return x;
        var keep = 1 - Probability;
        // One draw per sample, broadcast over every other dimension.
        var shape = new long[x.dim()];
        Array.Fill(shape, 1L);
        shape[0] = x.shape[0];
        var mask = empty(shape, x.dtype, x.device).bernoulli_(keep).div_(keep);
        return x * mask;
    }

    /// <summary>timm's linear stochastic-depth rule: block i of <paramref name="count"/> gets
    /// <paramref name="deepestRate"/> · i / (count − 1), so the first block is never dropped.</summary>
    public static double[] LinearRates(double deepestRate, int count) =>
        Enumerable.Range(0, count).Select(i => count > 1 ? deepestRate * i / (count - 1) : 0.0).ToArray();
}
