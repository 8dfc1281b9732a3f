using Microsoft.ML;
using Microsoft.ML.Runtime;
using ScaleKD.Torch.Training;

namespace ScaleKD.MLNet;

/// <summary>
/// The progress of one training phase (the teacher's from-scratch training, or the student's) as ML.NET reports it:
/// epochs as info and steps as trace on the log channel, the current epoch, step and loss on a progress channel (with a
/// checkpoint per epoch), and everything forwarded to the caller's <see cref="IProgress{T}"/>.
/// </summary>
sealed class PhaseProgress : IProgress<DistillationProgress>, IDisposable
{
    static readonly ProgressHeader Header = new(["Loss", "Validation Top-1", "Learning Rate"], ["epochs", "steps"]);

    readonly IChannel _log;
    readonly IProgressChannel _progress;
    readonly IProgress<DistillationProgress>? _user;
    readonly string _role;
    volatile DistillationProgress? _latest;

    public PhaseProgress(IHost host, IChannel log, IProgress<DistillationProgress>? user, string role)
    {
        _log = log;
        _user = user;
        _role = role;
        _progress = host.StartProgressChannel($"ScaleKD {role}");
        _progress.SetHeader(Header, Fill);
    }

    public void Report(DistillationProgress value)
    {
        _latest = value;
        if (value.Finished is { } epoch)
        {
            _log.Info($"ScaleKD {_role} epoch {epoch.Epoch}/{value.Epochs}: loss {epoch.TrainLoss:F4}, train top-1 {epoch.TrainTop1:P1}" +
                (epoch.ValidationTop1 is { } top1 ? $", validation top-1 {top1:P1}, top-5 {epoch.ValidationTop5:P1}" : "") +
                $", {epoch.ImagesPerSecond:F0} img/s, {epoch.Seconds:F0} s");
            _progress.Checkpoint(epoch.TrainLoss, epoch.ValidationTop1, epoch.LearningRate, epoch.Epoch, value.StepsPerEpoch, value.Epochs, value.StepsPerEpoch);
        }
        else
        {
            var losses = string.Join(", ", value.Losses.Select(l => $"{l.Key} {l.Value:F4}"));
            _log.Trace($"ScaleKD {_role} epoch {value.Epoch}/{value.Epochs} step {value.Step}/{value.StepsPerEpoch}: {losses}; " +
                $"lr {value.LearningRate:G3}; {value.ImagesPerSecond:F0} img/s; ETA {value.Remaining:hh\\:mm\\:ss}");
        }
        _user?.Report(value);
    }

    /// <summary>What a poll of the progress channel sees: the latest report's loss, epoch and step.</summary>
    void Fill(IProgressEntry entry)
    {
        if (_latest is not { } latest)
            return;
        if (latest.Losses.TryGetValue("total", out var loss))
            entry.SetMetric(0, loss);
        entry.SetMetric(2, latest.LearningRate);
        entry.SetProgress(0, latest.Epoch - 1, latest.Epochs);
        entry.SetProgress(1, latest.Step, latest.StepsPerEpoch);
    }

    public void Dispose() => _progress.Dispose();
}
