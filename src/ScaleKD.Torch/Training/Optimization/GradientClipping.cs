using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Optimization;

/// <summary>
/// Gradient-norm clipping (all advanced recipes clip at 5). TorchSharp's <c>nn.utils.clip_grad_norm_</c> returns the
/// norm as a double, which waits for the device every step; this does the same arithmetic as PyTorch's
/// <c>clip_grad_norm_</c> and returns the norm as a device tensor, to be read only when it is logged.
/// </summary>
public static class GradientClipping
{
    /// <summary>
    /// Scales the gradients of <paramref name="parameters"/> in place so that their joint L2 norm is at most
    /// <paramref name="maxNorm"/>: g ← g·min(1, maxNorm/(‖g‖ + 1e-6)), as PyTorch.
    /// </summary>
    /// <param name="parameters">Parameters whose gradients are clipped; those without a gradient are skipped.</param>
    /// <param name="maxNorm">The largest joint norm allowed.</param>
    /// <returns>The joint norm before clipping, a 0-d tensor on the gradients' device (0 on the CPU if no parameter
    /// has a gradient), owned by the caller's dispose scope.</returns>
    public static Tensor ClipByGlobalNorm(IEnumerable<Parameter> parameters, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxNorm);
        using var _ = no_grad();
        var gradients = parameters.Select(p => p.grad).OfType<Tensor>().ToList();
        if (GradientNorm.Global(gradients) is not { } totalNorm)
            return zeros(Array.Empty<long>());
        var scale = (maxNorm / (totalNorm + 1e-6)).clamp_max(1.0);
        foreach (var gradient in gradients)
            gradient.mul_(scale);
        return totalNorm;
    }
}
