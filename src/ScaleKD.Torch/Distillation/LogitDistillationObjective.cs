using ScaleKD.Torch.Models;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// Logit-only baselines against a frozen teacher: vanilla KD ((1 − w)·CE + w·soft-target, w = 0.5, T = 1, exactly
/// ScaleKD's logit part) or DIST (CE + DIST with β = γ = 1, T = 1, the DIST paper's ImageNet setting).
/// </summary>
public sealed class LogitDistillationObjective : DistillationObjective
{
    readonly VisionModel _teacher;
    readonly VisionModel _student;
    readonly double _labelSmoothing;
    readonly double _kdWeight;
    readonly double _temperature;

    /// <param name="method"><see cref="DistillationMethod.VanillaKD"/> or <see cref="DistillationMethod.Dist"/>.</param>
    public LogitDistillationObjective(DistillationMethod method, VisionModel teacher, VisionModel student,
        double labelSmoothing, double kdWeight = 0.5, double temperature = 1.0) : base(nameof(LogitDistillationObjective))
    {
        if (method is not (DistillationMethod.VanillaKD or DistillationMethod.Dist))
            throw new ArgumentException($"{method} is not a logit-distillation method.", nameof(method));
        if (teacher.Options.NumClasses != student.Options.NumClasses)
            throw new ArgumentException($"Teacher and student must have the same classes; got {teacher.Options.NumClasses} and {student.Options.NumClasses}.", nameof(student));
        Method = method;
        _teacher = teacher;
        _student = student;
        _labelSmoothing = labelSmoothing;
        _kdWeight = kdWeight;
        _temperature = temperature;
        FrozenTeacher.Freeze(teacher);
    }

    /// <inheritdoc />
    public override DistillationMethod Method { get; }

    /// <inheritdoc />
    public override ObjectiveResult Compute(Tensor images, Tensor labels)
    {
        var teacherLogits = FrozenTeacher.Forward(_teacher, images).Logits;
        var logits = _student.forward(images);
        var ce = nn.functional.cross_entropy(logits, labels, label_smoothing: _labelSmoothing);
        var terms = Method == DistillationMethod.VanillaKD
            ? new Dictionary<string, Tensor>
            {
                ["ce"] = ce * (1 - _kdWeight),
                ["kd"] = SoftTargetLoss.Compute(logits, teacherLogits, _temperature) * _kdWeight,
            }
            : new Dictionary<string, Tensor> { ["ce"] = ce, ["dist"] = DistRelationLoss.Compute(logits, teacherLogits, temperature: _temperature) };
        return new ObjectiveResult(terms.Values.Aggregate((a, b) => a + b), terms, logits);
    }
}
