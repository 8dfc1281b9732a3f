using ScaleKD.Torch.Training;
using Spectre.Console;

namespace ScaleKD.Cli;

/// <summary>
/// Live progress with ETA (a Spectre.Console bar per training phase) on an interactive terminal, plain lines
/// otherwise; each finished epoch is also printed as a line.
/// </summary>
public sealed class TrainingDisplay
{
    ProgressContext? _context;

    /// <summary>Runs <paramref name="work"/> with the live display active (or directly when output is redirected).</summary>
    public T Run<T>(Func<T> work)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
            return work();
        return AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context =>
            {
                _context = context;
                try
                {
                    return work();
                }
                finally
                {
                    _context = null;
                }
            });
    }

    /// <summary>Prints a line above the live display; without one (output redirected) as is, because Spectre.Console
    /// wraps at 80 columns there, which breaks the paths in a log in two.</summary>
    public void Line(string text)
    {
        if (_context is null)
            Console.WriteLine(text);
        else
            AnsiConsole.MarkupLine(Markup.Escape(text));
    }

    /// <summary>A progress sink for one training phase; <paramref name="finished"/> receives each epoch's metrics.</summary>
    public IProgress<DistillationProgress> Phase(string name, int epochs, Action<EpochMetrics> finished) => new PhaseProgress(this, name, epochs, finished);

    sealed class PhaseProgress(TrainingDisplay display, string name, int epochs, Action<EpochMetrics> finished) : IProgress<DistillationProgress>
    {
        ProgressTask? _task;

        public void Report(DistillationProgress value)
        {
            if (display._context is { } context)
            {
                _task ??= context.AddTask(Markup.Escape(name), maxValue: epochs * (double)value.StepsPerEpoch);
                _task.Value = (value.Epoch - 1) * (double)value.StepsPerEpoch + value.Step;
            }
            if (value.Finished is not { } epoch)
                return;
            finished(epoch);
            var validation = epoch.ValidationTop1 is { } top1 ? $", validation top-1 {top1:P1}" : "";
            display.Line($"{name} epoch {epoch.Epoch}/{epochs}: loss {epoch.TrainLoss:F3}, train top-1 {epoch.TrainTop1:P1}{validation}, {epoch.ImagesPerSecond:F0} img/s, ETA {value.Remaining:hh\\:mm\\:ss}");
        }
    }
}
