using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Optimization;

/// <summary>
/// A learning-rate schedule as a pure function of the optimizer step, so that resuming from a checkpoint only needs
/// the step index. Steps count optimizer updates from 0: the value at step s is the rate of update s.
/// </summary>
public interface ILearningRateSchedule
{
    /// <summary>The learning rate of update <paramref name="step"/> for a group whose peak (initial) rate is
    /// <paramref name="peakLearningRate"/>.</summary>
    double LearningRateAt(long step, double peakLearningRate);
}

/// <summary>Applies an <see cref="ILearningRateSchedule"/> to an optimizer's parameter groups.</summary>
public static class LearningRateScheduleExtensions
{
    /// <summary>
    /// Sets every group's learning rate for update <paramref name="step"/>: the schedule's value for the group's
    /// initial rate (TorchSharp's <c>InitialLearningRate</c>, which the schedule never changes and optimizer checkpoints
    /// restore), times the group's scale if <paramref name="learningRateScales"/> gives one (timm's <c>lr_scale</c>,
    /// e.g. layer-wise decay). Call it before each <c>step()</c>.
    /// </summary>
    /// <param name="schedule">The schedule.</param>
    /// <param name="optimizer">A managed TorchSharp optimizer (one with parameter groups).</param>
    /// <param name="step">The index of the update about to be made.</param>
    /// <param name="learningRateScales">One factor per parameter group, or null for none.</param>
    public static void Apply(this ILearningRateSchedule schedule, optim.Optimizer optimizer, long step, IReadOnlyList<double>? learningRateScales = null)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(optimizer);
        var groups = optimizer.ParamGroups?.ToList()
            ?? throw new ArgumentException("The optimizer exposes no parameter groups (a native TorchSharp optimizer?).", nameof(optimizer));
        if (learningRateScales is not null && learningRateScales.Count != groups.Count)
            throw new ArgumentException($"{learningRateScales.Count} learning-rate scales given for {groups.Count} parameter groups.", nameof(learningRateScales));
        for (var i = 0; i < groups.Count; i++)
            groups[i].LearningRate = schedule.LearningRateAt(step, groups[i].InitialLearningRate) * (learningRateScales?[i] ?? 1.0);
    }
}
