using ScaleKD.Torch.Models;

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

    /// <summary>
    /// The official advanced schedule for a student family (spec §4), per step:
    /// <list type="bullet">
    /// <item>AdamW families (ViT, Swin, ConvNeXt, Mixer): 20 warm-up epochs of 300 starting at peak·1e-3 (mmcls
    /// LinearLR <c>start_factor=1e-3</c>), cosine to 1e-5 (or the peak, if that is lower).</item>
    /// <item>LAMB families (ResNet, MobileNetV1): 5 warm-up epochs of 300 starting at peak·0.25, cosine to 0.</item>
    /// </list>
    /// Runs of other lengths keep the official proportion of warm-up (20/300 or 5/300 of the epochs, at least one
    /// step), so a 30-epoch run warms up for 2 epochs rather than two thirds of the run.
    /// </summary>
    /// <param name="family">The student's family.</param>
    /// <param name="peakLearningRate">The optimizer's peak rate (<see cref="OptimizerRecipe.LearningRate"/>).</param>
    /// <param name="stepsPerEpoch">Optimizer updates per epoch.</param>
    /// <param name="epochs">Epochs in the run.</param>
    public static WarmupCosineSchedule OfficialFor(ModelFamily family, double peakLearningRate, long stepsPerEpoch, int epochs)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stepsPerEpoch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(epochs);
        var adamW = OptimizerRecipe.OfficialFor(family, 512).Kind == OptimizerKind.AdamW;
        const double officialEpochs = 300;
        var warmupEpochs = (adamW ? 20 : 5) * epochs / officialEpochs;
        var totalSteps = stepsPerEpoch * epochs;
        var warmupSteps = Math.Clamp((long)Math.Round(warmupEpochs * stepsPerEpoch), 1, totalSteps);
        return adamW
            ? new WarmupCosineSchedule(totalSteps, warmupSteps, peakLearningRate * 1e-3, Math.Min(1e-5, peakLearningRate))
            : new WarmupCosineSchedule(totalSteps, warmupSteps, peakLearningRate * 0.25, 0);
    }
}
