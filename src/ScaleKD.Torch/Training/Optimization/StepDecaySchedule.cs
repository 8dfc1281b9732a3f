namespace ScaleKD.Torch.Training.Optimization;

/// <summary>
/// Step decay (PyTorch's MultiStepLR, per step): the peak rate times <see cref="Gamma"/> to the number of milestones
/// already reached, lr = peak·γ^|{m ∈ milestones : m ≤ s}|.
/// </summary>
public sealed class StepDecaySchedule : ILearningRateSchedule
{
    /// <summary>The schedule.</summary>
    /// <param name="milestoneSteps">Update indices at which the rate is multiplied by <paramref name="gamma"/>.</param>
    /// <param name="gamma">The factor applied at each milestone.</param>
    public StepDecaySchedule(IEnumerable<long> milestoneSteps, double gamma = 0.1)
    {
        ArgumentNullException.ThrowIfNull(milestoneSteps);
        ArgumentOutOfRangeException.ThrowIfNegative(gamma);
        MilestoneSteps = milestoneSteps.Order().ToList();
        if (MilestoneSteps.Any(m => m < 0))
            throw new ArgumentOutOfRangeException(nameof(milestoneSteps), "Milestones must not be negative.");
        Gamma = gamma;
    }

    /// <summary>The milestones, sorted.</summary>
    public IReadOnlyList<long> MilestoneSteps { get; }

    /// <summary>The factor applied at each milestone.</summary>
    public double Gamma { get; }

    /// <inheritdoc />
    public double LearningRateAt(long step, double peakLearningRate)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        return peakLearningRate * Math.Pow(Gamma, MilestoneSteps.Count(m => m <= step));
    }

    /// <summary>
    /// The official traditional schedule (config <c>imagenet_bs256</c>): ×0.1 at epochs 30, 60 and 90 of 100. Runs of
    /// other lengths keep the proportion (30 %, 60 %, 90 % of the epochs).
    /// </summary>
    /// <param name="stepsPerEpoch">Optimizer updates per epoch.</param>
    /// <param name="epochs">Epochs in the run.</param>
    public static StepDecaySchedule Traditional(long stepsPerEpoch, int epochs = 100)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stepsPerEpoch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(epochs);
        return new StepDecaySchedule(new[] { 30, 60, 90 }.Select(e => (long)Math.Round(e / 100.0 * epochs) * stepsPerEpoch), 0.1);
    }
}
