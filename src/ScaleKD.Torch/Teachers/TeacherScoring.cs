using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Data;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Teachers;

/// <summary>
/// Scores a prepared teacher on labelled images exactly as the student of the same run is scored: the student's
/// evaluation view (its image size, normalisation and centre crop), brought to the teacher's own size as during
/// distillation. A report can then put the teacher's test accuracy beside the student's, measured on the same footing.
/// </summary>
public static class TeacherScoring
{
    /// <summary>Mean cross-entropy, top-1 and top-5 of <paramref name="teacher"/> on <paramref name="source"/>.</summary>
    public static ClassificationResult Evaluate(DistillationSpec spec, VisionModel teacher, IBatchSource source, CancellationToken cancellationToken = default)
    {
        var transform = new EvalTransform(spec.AugmentationFor(spec.ImageSize));
        var device = teacher.parameters().First().device;
        var dtype = FrozenTeacher.DtypeOf(teacher);
        teacher.eval();
        return DistillationTrainer.Evaluate(images => teacher.forward(FrozenTeacher.AtTeacherSize(teacher, images).to(dtype)).to(ScalarType.Float32),
            source, transform, spec.BatchSize, device, cancellationToken);
    }
}
