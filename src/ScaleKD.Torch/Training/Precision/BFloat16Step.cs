using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training.Optimization;
using TorchSharp.Modules;

namespace ScaleKD.Torch.Training.Precision;

/// <summary>
/// The mixed-precision <see cref="ITrainingStep"/>: the student and objective the run holds are the float32 masters
/// (optimised, averaged, validated and checkpointed as in float32 training); forward and backward run on their bfloat16
/// working copies (<see cref="BFloat16Student"/>), whose gradients are applied to the masters, then clipped and stepped.
/// </summary>
public sealed class BFloat16Step : OptimizerStep
{
    readonly BFloat16Student _mixed;
    readonly DistillationObjective _working;

    /// <param name="student">The float32 student (master weights).</param>
    /// <param name="objective">The float32 objective (master projector weights).</param>
    /// <param name="createObjective">Builds the same objective around another student: the working copy's.</param>
    /// <param name="trainable">The masters the optimizer updates, by name (student first, then the objective's).</param>
    public BFloat16Step(VisionModel student, DistillationObjective objective, Func<VisionModel, DistillationObjective> createObjective,
        IReadOnlyList<(string Name, Parameter Parameter)> trainable, OptimizerRecipe recipe, ILearningRateSchedule schedule, double? clipNorm)
        : base(trainable, recipe, schedule, clipNorm)
    {
        _mixed = new BFloat16Student(student);
        _working = _mixed.AttachObjective(objective, createObjective);
    }

    /// <inheritdoc />
    protected override DistillationObjective Forward => _working;

    /// <summary>The working copy takes the masters' latest weights.</summary>
    protected override void BeforeForward() => _mixed.PullWeights();

    /// <summary>The working copy's gradients go to the masters, which are clipped and stepped.</summary>
    protected override void AfterBackward() => _mixed.PushGradients();

    /// <inheritdoc />
    public override void Dispose()
    {
        base.Dispose();
        _mixed.Dispose();
    }
}
