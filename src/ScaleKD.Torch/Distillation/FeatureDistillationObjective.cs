using ScaleKD.Torch.Models;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>The FitNet-style baseline: cross-entropy plus a hint loss between the last student and teacher stages.</summary>
public sealed class FeatureDistillationObjective : DistillationObjective
{
    readonly VisionModel _teacher;
    readonly VisionModel _student;
    readonly double _labelSmoothing;
    readonly double _hintWeight;
    readonly FitNetLoss hint;

    /// <param name="hintWeight">Weight of the hint loss (1 by default).</param>
    public FeatureDistillationObjective(VisionModel teacher, VisionModel student, double labelSmoothing, double hintWeight = 1.0)
        : base(nameof(FeatureDistillationObjective))
    {
        _teacher = teacher;
        _student = student;
        _labelSmoothing = labelSmoothing;
        _hintWeight = hintWeight;
        FrozenTeacher.Freeze(teacher);
        var studentStage = student.StageShapes()[3];
        var teacherStage = teacher.StageShapes()[3];
        if (teacherStage.Height > studentStage.Height || teacherStage.Width > studentStage.Width)
            throw new ArgumentException($"FitNet pools the student's last stage ({studentStage}) to the teacher's grid ({teacherStage}), which must not be larger.", nameof(student));
        hint = new FitNetLoss(studentStage.Channels, teacherStage.Channels);
        register_module(nameof(hint), hint);
    }

    /// <inheritdoc />
    public override DistillationMethod Method => DistillationMethod.FeatureKD;

    /// <summary>The weight of the hint loss.</summary>
    public double HintWeight => _hintWeight;

    /// <inheritdoc />
    public override ObjectiveResult Compute(Tensor images, Tensor labels)
    {
        var teacherStage4 = FrozenTeacher.Forward(_teacher, images).Stages[3];
        var student = _student.ForwardStages(images);
        var terms = new Dictionary<string, Tensor>
        {
            ["ce"] = nn.functional.cross_entropy(student.Logits, labels, label_smoothing: _labelSmoothing),
            ["hint"] = hint.forward(student.Stages[3], teacherStage4) * _hintWeight,
        };
        return new ObjectiveResult(terms.Values.Aggregate((a, b) => a + b), terms, student.Logits);
    }
}
