using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// Logit distillation (Hinton et al.; ScaleKD uses it with weight 0.5 and T = 1): −T²·Σ softmax(zT/T)·log_softmax(zS/T),
/// summed over classes and averaged over the batch, as the official KDLoss (unweighted here).
/// </summary>
public static class SoftTargetLoss
{
    /// <summary>The loss for student logits <paramref name="student"/> and teacher logits <paramref name="teacher"/>, both (N, classes).</summary>
    public static Tensor Compute(Tensor student, Tensor teacher, double temperature)
    {
        var target = nn.functional.softmax(teacher / temperature, 1);
        var logProbabilities = nn.functional.log_softmax(student / temperature, 1);
        return (target * logProbabilities).sum(1).mean() * -(temperature * temperature);
    }
}
