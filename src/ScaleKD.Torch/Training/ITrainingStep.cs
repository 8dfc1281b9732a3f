using ScaleKD.Torch.Distillation;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training;

/// <summary>
/// How one optimisation step runs: the learning rate for the step, the objective's forward pass, backward, gradient
/// clipping and the optimizer's update. The epoch loop of <see cref="DistillationTrainer"/> only calls
/// <see cref="Run"/>, so a variant (say, bfloat16 working weights with float32 master weights) replaces
/// <see cref="FullPrecisionStep"/> without touching the loop; <c>DistillationTrainer.CreateStep</c> chooses it.
/// </summary>
/// <remarks>What the loop expects of any step: after <see cref="Run"/> returns, the student and objective the run was
/// given hold the updated weights in their own precision, because the loop averages them (EMA), validates them and
/// writes them to checkpoints. A mixed-precision step therefore keeps those modules as its float32 masters, runs
/// forward and backward on its own low-precision copy, applies the gradients to the masters and refreshes the copy.</remarks>
public interface ITrainingStep : IDisposable
{
    /// <summary>The optimizer over the weights that are checkpointed (the master weights of a mixed-precision step);
    /// its state is saved and restored with the run.</summary>
    OptimizerHelper Optimizer { get; }

    /// <summary>The learning rate of the latest update (the largest over the parameter groups).</summary>
    double LearningRate { get; }

    /// <summary>Runs update number <paramref name="globalStep"/> (0-based, over the whole run) on one batch already on
    /// the device, and returns the objective's terms (on the device, in the step's dispose scope).</summary>
    ObjectiveResult Run(Tensor images, Tensor labels, long globalStep);
}
