namespace ScaleKD.Torch.Training.Optimization;

/// <summary>
/// Per-step linear warm-up from <see cref="WarmupInitialLearningRate"/> to the peak rate over
/// <see cref="WarmupSteps"/> updates, then a half cosine from the peak down to <see cref="MinLearningRate"/> at
/// <see cref="TotalSteps"/>, and the minimum after that. The cosine starts where warm-up ends, as the official
/// mmcls configs chain LinearLR and CosineAnnealingLR (timm's <c>warmup_prefix=True</c>):
/// <code>
/// s &lt; W:      lr = init + (peak − init)·s/W
/// W ≤ s &lt; T:  lr = min + ½(peak − min)(1 + cos(π(s − W)/(T − W)))
/// s ≥ T:      lr = min
/// </code>
/// The warm-up start and the minimum are absolute rates, as timm's <c>warmup_lr_init</c> and <c>lr_min</c>.
/// </summary>
public sealed class WarmupCosineSchedule : ILearningRateSchedule
{
    /// <summary>The schedule; see the class summary for the formula.</summary>
    /// <param name="totalSteps">T: updates in the whole run.</param>
    /// <param name="warmupSteps">W: warm-up updates, 0 ≤ W ≤ T.</param>
    /// <param name="warmupInitialLearningRate">The rate of update 0 when there is a warm-up.</param>
    /// <param name="minLearningRate">The rate reached at the end of the cosine.</param>
    public WarmupCosineSchedule(long totalSteps, long warmupSteps, double warmupInitialLearningRate, double minLearningRate)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(totalSteps);
        ArgumentOutOfRangeException.ThrowIfNegative(warmupSteps);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(warmupSteps, totalSteps);
        ArgumentOutOfRangeException.ThrowIfNegative(warmupInitialLearningRate);
        ArgumentOutOfRangeException.ThrowIfNegative(minLearningRate);
        TotalSteps = totalSteps;
        WarmupSteps = warmupSteps;
        WarmupInitialLearningRate = warmupInitialLearningRate;
        MinLearningRate = minLearningRate;
    }

    /// <summary>T: updates in the whole run.</summary>
    public long TotalSteps { get; }

    /// <summary>W: warm-up updates.</summary>
    public long WarmupSteps { get; }

    /// <summary>The rate of update 0 (timm's <c>warmup_lr_init</c>).</summary>
    public double WarmupInitialLearningRate { get; }

    /// <summary>The rate at and after <see cref="TotalSteps"/> (timm's <c>lr_min</c>).</summary>
    public double MinLearningRate { get; }

    /// <inheritdoc />
    public double LearningRateAt(long step, double peakLearningRate)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        if (step < WarmupSteps)
            return WarmupInitialLearningRate + (peakLearningRate - WarmupInitialLearningRate) * step / WarmupSteps;
        if (step >= TotalSteps)
            return MinLearningRate;
        return MinLearningRate + 0.5 * (peakLearningRate - MinLearningRate) * (1 + Math.Cos(Math.PI * (step - WarmupSteps) / (TotalSteps - WarmupSteps)));
    }
}
