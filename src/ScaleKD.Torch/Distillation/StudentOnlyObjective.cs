using ScaleKD.Torch.Models;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>The no-distillation baseline: the student's cross-entropy (with label smoothing) alone.</summary>
public sealed class StudentOnlyObjective(VisionModel student, double labelSmoothing) : DistillationObjective(nameof(StudentOnlyObjective))
{
    /// <inheritdoc />
    public override DistillationMethod Method => DistillationMethod.None;

    /// <inheritdoc />
    public override ObjectiveResult Compute(Tensor images, Tensor labels)
    {
        var logits = student.forward(images);
        var ce = nn.functional.cross_entropy(logits, labels, label_smoothing: labelSmoothing);
        return new ObjectiveResult(ce, new Dictionary<string, Tensor> { ["ce"] = ce }, logits);
    }
}
