using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Training.Optimization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training;

/// <summary>
/// What every <see cref="ITrainingStep"/> shares: the optimizer over the checkpointed weights, the schedule, and the
/// order of one update (learning rate, forward, backward, clip, step). A step only says which objective runs the
/// forward pass and what happens around it (<see cref="BeforeForward"/>, <see cref="AfterBackward"/>), so the update's
/// order is written once.
/// </summary>
public abstract class OptimizerStep : ITrainingStep
{
    readonly IReadOnlyList<Parameter> _trainable;
    readonly ILearningRateSchedule _schedule;
    readonly double? _clipNorm;

    /// <param name="trainable">Every parameter the optimizer updates, by name (student first, then the objective's).</param>
    /// <param name="recipe">The optimizer to build over <paramref name="trainable"/>.</param>
    /// <param name="schedule">The learning rate of each update.</param>
    /// <param name="clipNorm">The global gradient-norm clip, or null for none.</param>
    protected OptimizerStep(IReadOnlyList<(string Name, Parameter Parameter)> trainable, OptimizerRecipe recipe, ILearningRateSchedule schedule,
        double? clipNorm)
    {
        _trainable = trainable.Select(p => p.Parameter).ToList();
        _schedule = schedule;
        _clipNorm = clipNorm;
        Optimizer = OptimizerFactory.Create(trainable, recipe);
    }

    /// <inheritdoc />
    public OptimizerHelper Optimizer { get; }

    /// <inheritdoc />
    public double LearningRate => Optimizer.ParamGroups.Max(g => g.LearningRate);

    /// <summary>The objective whose forward and backward pass the step runs.</summary>
    protected abstract DistillationObjective Forward { get; }

    /// <summary>Called after the learning rate is set and before the forward pass.</summary>
    protected virtual void BeforeForward()
    {
    }

    /// <summary>Called after the backward pass and before clipping: the gradients must then be on <c>trainable</c>.</summary>
    protected virtual void AfterBackward()
    {
    }

    /// <inheritdoc />
    public ObjectiveResult Run(Tensor images, Tensor labels, long globalStep)
    {
        _schedule.Apply(Optimizer, globalStep);
        BeforeForward();
        var loss = Forward.Compute(images, labels);
        Optimizer.zero_grad();
        loss.Total.backward();
        AfterBackward();
        if (_clipNorm is { } clip)
            GradientClipping.ClipByGlobalNorm(_trainable, clip);
        Optimizer.step();
        return loss;
    }

    /// <inheritdoc />
    public virtual void Dispose() => Optimizer.Dispose();
}
