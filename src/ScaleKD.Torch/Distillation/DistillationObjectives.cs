using ScaleKD.Torch.Models;

namespace ScaleKD.Torch.Distillation;

/// <summary>Creates the objective for a <see cref="DistillationMethod"/>, with the official defaults for the student family.</summary>
public static class DistillationObjectives
{
    /// <summary>Label smoothing of the official recipes: 0.1 for MobileNet, ViT, Swin and ConvNeXt students; 0 for
    /// ResNet (whose advanced recipe uses BCE instead) and Mixer (plain CE).</summary>
    public static double DefaultLabelSmoothing(ModelFamily student) =>
        student is ModelFamily.ResNet or ModelFamily.Mixer ? 0.0 : 0.1;

    /// <summary>Builds the objective.</summary>
    /// <param name="teacher">Required for every method except <see cref="DistillationMethod.None"/>.</param>
    /// <param name="scaleKD">ScaleKD settings; its <see cref="ScaleKDLossOptions.LabelSmoothing"/> applies to every method.</param>
    /// <exception cref="ArgumentException">A teacher is missing where the method needs one.</exception>
    public static DistillationObjective Create(DistillationMethod method, VisionModel student, VisionModel? teacher, ScaleKDLossOptions? scaleKD = null)
    {
        scaleKD ??= new ScaleKDLossOptions();
        var smoothing = scaleKD.LabelSmoothing ?? DefaultLabelSmoothing(student.Family);
        if (method != DistillationMethod.None && teacher is null)
            throw new ArgumentException($"The {method} method needs a teacher.", nameof(teacher));
        return method switch
        {
            DistillationMethod.None => new StudentOnlyObjective(student, smoothing),
            DistillationMethod.VanillaKD or DistillationMethod.Dist =>
                new LogitDistillationObjective(method, teacher!, student, smoothing, scaleKD.KdWeight, scaleKD.Temperature),
            DistillationMethod.FeatureKD => new FeatureDistillationObjective(teacher!, student, smoothing),
            DistillationMethod.ScaleKD => new ScaleKDLoss(teacher!, student, scaleKD),
            _ => throw new ArgumentOutOfRangeException(nameof(method), method, "Unknown distillation method."),
        };
    }
}
