using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Training.Optimization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training;

/// <summary>The standard <see cref="ITrainingStep"/>: everything in the weights' own precision (float32).</summary>
public sealed class FullPrecisionStep : ITrainingStep
{
    readonly DistillationObjective _objective;
    readonly IReadOnlyList<Parameter> _trainable;
    readonly ILearningRateSchedule _schedule;
    readonly double? _clipNorm;

    /// <param name="objective">The objective; its forward pass runs the student (and the teacher).</param>
    /// <param name="trainable">Every parameter the optimizer updates, by name (student first, then the objective's).</param>
    /// <param name="recipe">The optimizer to build over <paramref name="trainable"/>.</param>
    /// <param name="schedule">The learning rate of each update.</param>
    /// <param name="clipNorm">The global gradient-norm clip, or null for none.</param>
    public FullPrecisionStep(DistillationObjective objective, IReadOnlyList<(string Name, Parameter Parameter)> trainable,
        OptimizerRecipe recipe, ILearningRateSchedule schedule, double? clipNorm)
    {
        _objective = objective;
        _trainable = trainable.Select(p => p.Parameter).ToList();
        _schedule = schedule;
        _clipNorm = clipNorm;
        Optimizer = OptimizerFactory.Create(trainable, recipe);
    }

    /// <inheritdoc />
    public OptimizerHelper Optimizer { get; }

    /// <inheritdoc />
    public double LearningRate => Optimizer.ParamGroups.Max(g => g.LearningRate);

    /// <inheritdoc />
    public ObjectiveResult Run(Tensor images, Tensor labels, long globalStep)
    {
        _schedule.Apply(Optimizer, globalStep);
        var loss = _objective.Compute(images, labels);
        Optimizer.zero_grad();
        loss.Total.backward();
        if (_clipNorm is { } clip)
            GradientClipping.ClipByGlobalNorm(_trainable, clip);
        Optimizer.step();
        return loss;
    }

    /// <inheritdoc />
    public void Dispose() => Optimizer.Dispose();
}
