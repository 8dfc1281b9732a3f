using ScaleKD.Torch.Models;

namespace ScaleKD.Torch.Training;

/// <summary>Why a run ended.</summary>
public enum StopReason
{
    /// <summary>All planned epochs ran.</summary>
    Completed,
    /// <summary>Validation stopped improving for the patience.</summary>
    EarlyStopped,
    /// <summary>The cancellation token fired; the best (or latest) weights so far are returned.</summary>
    Cancelled,
}

/// <summary>The outcome of <see cref="DistillationTrainer.Fit"/>.</summary>
/// <param name="Student">The trained student (the caller's instance), holding the returned weights.</param>
/// <param name="History">One entry per finished epoch, including those of a resumed run's earlier process.</param>
/// <param name="StopReason">Why training ended.</param>
/// <param name="BestEpoch">The 1-based epoch whose weights were returned, or null for the latest weights.</param>
/// <param name="ReturnedEma">True when the returned weights are the EMA's.</param>
/// <param name="ResumedFromEpoch">The number of epochs a checkpoint had already completed, or 0.</param>
public sealed record DistillationResult(
    VisionModel Student, IReadOnlyList<EpochMetrics> History, StopReason StopReason, int? BestEpoch, bool ReturnedEma, int ResumedFromEpoch);
