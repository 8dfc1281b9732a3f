using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// The relation loss of DIST (Huang et al., NeurIPS 2022), a logit-distillation baseline: 1 − Pearson correlation
/// between the softened student and teacher predictions, across classes per image (inter-class) and across images per
/// class (intra-class). <see cref="LogitDistillationObjective"/> uses it for <see cref="DistillationMethod.Dist"/>.
/// </summary>
public static class DistRelationLoss
{
    /// <summary>The inter-class weight β of the DIST paper's ImageNet setting.</summary>
    public const double DefaultBeta = 1.0;

    /// <summary>The intra-class weight γ of the DIST paper's ImageNet setting.</summary>
    public const double DefaultGamma = 1.0;

    /// <summary>T²·(β·inter + γ·intra) for logits (N, classes).</summary>
    public static Tensor Compute(Tensor student, Tensor teacher, double beta = DefaultBeta, double gamma = DefaultGamma, double temperature = 1.0)
    {
        var ys = nn.functional.softmax(student / temperature, 1);
        var yt = nn.functional.softmax(teacher / temperature, 1);
        var inter = 1 - RowPearson(ys, yt).mean();
        var intra = 1 - RowPearson(ys.t(), yt.t()).mean();
        return (inter * beta + intra * gamma) * (temperature * temperature);
    }

    static Tensor RowPearson(Tensor a, Tensor b)
    {
        var ca = a - a.mean([1], keepdim: true);
        var cb = b - b.mean([1], keepdim: true);
        return (ca * cb).sum(1) / (ca.norm(1) * cb.norm(1) + 1e-8);
    }
}
