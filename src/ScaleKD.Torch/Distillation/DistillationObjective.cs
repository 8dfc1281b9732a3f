using ScaleKD.Torch.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// One training objective for a student, with or without a teacher. Every method (none, vanilla KD, FitNet, DIST,
/// ScaleKD) goes through this one interface and the same training loop, so comparisons are one option apart
/// (torchdistill's design). Its own parameters (projectors, regressors) are trained with the student.
/// </summary>
public abstract class DistillationObjective : nn.Module
{
    /// <param name="name">The module name, used in state-dict prefixes and messages.</param>
    protected DistillationObjective(string name) : base(name)
    {
    }

    /// <summary>The method this objective implements.</summary>
    public abstract DistillationMethod Method { get; }

    /// <summary>Runs the student (and the teacher, if any) on one batch and returns the weighted loss terms.</summary>
    /// <param name="images">(N, C, H, W), augmented and normalised.</param>
    /// <param name="labels">(N) class indices.</param>
    public abstract ObjectiveResult Compute(Tensor images, Tensor labels);

    /// <summary>The objective of <paramref name="method"/>, with the official defaults for the pair where
    /// <paramref name="options"/> leaves them open.</summary>
    /// <param name="teacher">Required for every method except <see cref="DistillationMethod.None"/>; frozen here.</param>
    /// <exception cref="ArgumentException">A teacher is missing where the method needs one.</exception>
    public static DistillationObjective Create(DistillationMethod method, VisionModel student, VisionModel? teacher, ObjectiveOptions? options = null)
    {
        options ??= new ObjectiveOptions();
        var smoothing = options.LabelSmoothingFor(student.Family);
        if (method != DistillationMethod.None && teacher is null)
            throw new ArgumentException($"The {method} method needs a teacher.", nameof(teacher));
        return method switch
        {
            DistillationMethod.None => new StudentOnlyObjective(student, smoothing),
            DistillationMethod.VanillaKD or DistillationMethod.Dist =>
                new LogitDistillationObjective(method, teacher!, student, smoothing, options.KdWeight, options.Temperature),
            DistillationMethod.FeatureKD => new FeatureDistillationObjective(teacher!, student, smoothing),
            DistillationMethod.ScaleKD => new ScaleKDObjective(teacher!, student, options),
            _ => throw new ArgumentOutOfRangeException(nameof(method), method, "Unknown distillation method."),
        };
    }
}
