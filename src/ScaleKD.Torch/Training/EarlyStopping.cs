namespace ScaleKD.Torch.Training;

/// <summary>The validation metric that decides the best epoch and early stopping.</summary>
public enum MonitoredMetric
{
    /// <summary>Validation top-1 accuracy (higher is better).</summary>
    Top1,
    /// <summary>Validation loss (lower is better).</summary>
    Loss,
}

/// <summary>Tracks the best epoch and says when validation has not improved for <c>patience</c> epochs.</summary>
/// <param name="patience">Epochs without improvement before stopping; null never stops early.</param>
public sealed class EarlyStopping(MonitoredMetric metric, int? patience)
{
    /// <summary>The best value seen, or null before the first.</summary>
    public double? Best { get; private set; }

    /// <summary>The epoch of <see cref="Best"/>, or −1.</summary>
    public int BestEpoch { get; private set; } = -1;

    /// <summary>Records an epoch's value; true when it is a new best.</summary>
    public bool Observe(int epoch, double value)
    {
        var better = Best is null || (metric == MonitoredMetric.Top1 ? value > Best : value < Best);
        if (better)
        {
            Best = value;
            BestEpoch = epoch;
        }
        return better;
    }

    /// <summary>True when the last <c>patience</c> epochs brought no improvement.</summary>
    public bool ShouldStop(int epoch) => patience is { } p && BestEpoch >= 0 && epoch - BestEpoch >= p;

    /// <summary>Restores the state saved in a checkpoint.</summary>
    public void Restore(double? best, int bestEpoch)
    {
        Best = best;
        BestEpoch = bestEpoch;
    }
}
