using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Training.Optimization;
using TorchSharp.Modules;

namespace ScaleKD.Torch.Training;

/// <summary>The standard <see cref="ITrainingStep"/>: everything in the weights' own precision (float32).</summary>
/// <param name="objective">The objective; its forward pass runs the student (and the teacher).</param>
/// <param name="trainable">Every parameter the optimizer updates, by name (student first, then the objective's).</param>
/// <param name="recipe">The optimizer to build over <paramref name="trainable"/>.</param>
/// <param name="schedule">The learning rate of each update.</param>
/// <param name="clipNorm">The global gradient-norm clip, or null for none.</param>
public sealed class FullPrecisionStep(DistillationObjective objective, IReadOnlyList<(string Name, Parameter Parameter)> trainable,
    OptimizerRecipe recipe, ILearningRateSchedule schedule, double? clipNorm) : OptimizerStep(trainable, recipe, schedule, clipNorm)
{
    /// <inheritdoc />
    protected override DistillationObjective Forward => objective;
}
