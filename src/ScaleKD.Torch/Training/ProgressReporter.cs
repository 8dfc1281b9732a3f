using System.Diagnostics;

namespace ScaleKD.Torch.Training;

/// <summary>
/// Turns steps and epochs into <see cref="DistillationProgress"/> reports: the loss window every few steps (read back
/// from the device only then), throughput since the last report, and the time left for the run.
/// </summary>
sealed class ProgressReporter(IProgress<DistillationProgress>? progress, int epochs, long stepsPerEpoch, int logEverySteps)
{
    readonly Stopwatch _run = Stopwatch.StartNew();
    readonly Stopwatch _window = new();
    long _windowImages;
    long _stepsDone;

    /// <summary>Starts an epoch's first reporting window.</summary>
    public void StartEpoch()
    {
        _windowImages = 0;
        _window.Restart();
    }

    /// <summary>Counts a finished step; every <c>logEverySteps</c> steps reads the loss window and reports it.</summary>
    /// <exception cref="NonFiniteLossException">A loss term became NaN or infinite in the window.</exception>
    public void StepDone(int epoch, long step, long images, LossTracker tracker, double learningRate)
    {
        _stepsDone++;
        _windowImages += images;
        if (step % logEverySteps != 0)
            return;
        var losses = tracker.ReadWindow(epoch + 1);
        progress?.Report(new DistillationProgress(epoch + 1, epochs, step, stepsPerEpoch, losses, learningRate,
            _windowImages / _window.Elapsed.TotalSeconds, Remaining((epochs - epoch) * stepsPerEpoch - step), null));
        _windowImages = 0;
        _window.Restart();
    }

    /// <summary>Reports a finished epoch with its metrics.</summary>
    public void EpochDone(int epoch, IReadOnlyDictionary<string, double> terms, EpochMetrics metrics) =>
        progress?.Report(new DistillationProgress(epoch + 1, epochs, stepsPerEpoch, stepsPerEpoch, terms, metrics.LearningRate,
            metrics.ImagesPerSecond, Remaining((epochs - epoch - 1) * stepsPerEpoch), metrics));

    TimeSpan Remaining(long stepsLeft) =>
        _stepsDone == 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(_run.Elapsed.TotalSeconds / _stepsDone * Math.Max(0, stepsLeft));
}
