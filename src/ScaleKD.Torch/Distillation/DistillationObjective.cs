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
    public abstract DistillationLoss Compute(Tensor images, Tensor labels);
}
