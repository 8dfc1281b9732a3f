using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Optimization;

/// <summary>The global L2 norm of a set of gradients, kept on their device (no host sync).</summary>
public static class GradientNorm
{
    /// <summary>‖g‖ over all of <paramref name="gradients"/>: the norm of the per-tensor norms, as PyTorch's
    /// <c>clip_grad_norm_</c> and timm's LAMB compute it; null when there are none.</summary>
    public static Tensor? Global(IReadOnlyCollection<Tensor> gradients) =>
        gradients.Count == 0 ? null : linalg.vector_norm(stack(gradients.Select(g => linalg.vector_norm(g))));
}
