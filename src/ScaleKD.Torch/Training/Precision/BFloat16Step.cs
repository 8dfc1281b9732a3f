using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training.Optimization;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Precision;

/// <summary>
/// The mixed-precision <see cref="ITrainingStep"/>: the student and objective the run holds are the float32 masters
/// (optimised, averaged, validated and checkpointed as in float32 training); forward and backward run on their bfloat16
/// working copies (<see cref="BFloat16Student"/>), whose gradients are applied to the masters, then clipped and stepped.
/// </summary>
public sealed class BFloat16Step : ITrainingStep
{
    readonly BFloat16Student _mixed;
    readonly DistillationObjective _working;
    readonly IReadOnlyList<Parameter> _trainable;
    readonly ILearningRateSchedule _schedule;
    readonly double? _clipNorm;

    /// <param name="student">The float32 student (master weights).</param>
    /// <param name="objective">The float32 objective (master projector weights).</param>
    /// <param name="createObjective">Builds the same objective around another student: the working copy's.</param>
    /// <param name="trainable">The masters the optimizer updates, by name (student first, then the objective's).</param>
    public BFloat16Step(VisionModel student, DistillationObjective objective, Func<VisionModel, DistillationObjective> createObjective,
        IReadOnlyList<(string Name, Parameter Parameter)> trainable, OptimizerRecipe recipe, ILearningRateSchedule schedule, double? clipNorm)
    {
        _mixed = new BFloat16Student(student);
        _working = _mixed.AttachObjective(objective, createObjective);
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
        _mixed.PullWeights();
        var loss = _working.Compute(images, labels);
        Optimizer.zero_grad();
        loss.Total.backward();
        _mixed.PushGradients();
        if (_clipNorm is { } clip)
            GradientClipping.ClipByGlobalNorm(_trainable, clip);
        Optimizer.step();
        return loss;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Optimizer.Dispose();
        _mixed.Dispose();
    }
}
