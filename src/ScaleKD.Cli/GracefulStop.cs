using System.Runtime.InteropServices;

namespace ScaleKD.Cli;

/// <summary>
/// Turns the first Ctrl-C (SIGINT) or SIGTERM into a stop request on <see cref="Token"/>: the trainer finishes its current
/// step and returns the best model so far, which the tool saves before it exits. A second signal ends the process at
/// once, as the signal normally would, for when the user cannot wait for the step to end.
/// </summary>
public sealed class GracefulStop : IDisposable
{
    readonly CancellationTokenSource _stop = new();
    readonly PosixSignalRegistration _terminate;
    int _signals;

    /// <summary>Starts listening for SIGINT and SIGTERM.</summary>
    public GracefulStop()
    {
        Console.CancelKeyPress += OnCancelKeyPress;
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = Request(PosixSignal.SIGTERM);
        });
    }

    /// <summary>Cancelled by the first signal.</summary>
    public CancellationToken Token => _stop.Token;

    /// <summary>True once a stop was requested.</summary>
    public bool IsRequested => _stop.IsCancellationRequested;

    /// <summary>The conventional exit code of a process ended by the signal that stopped the run (128 + its number):
    /// 130 for SIGINT, 143 for SIGTERM, so scripts can tell a stopped run from a finished one.</summary>
    public int ExitCode { get; private set; }

    void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e) => e.Cancel = Request(PosixSignal.SIGINT);

    /// <summary>True (keep running) on the first signal, false (let the signal end the process) on later ones.</summary>
    bool Request(PosixSignal signal)
    {
        if (Interlocked.Increment(ref _signals) > 1)
            return false;
        ExitCode = signal == PosixSignal.SIGTERM ? 143 : 130;
        // Written straight to stderr: the live progress display owns stdout.
        Console.Error.WriteLine($"{(signal == PosixSignal.SIGTERM ? "SIGTERM" : "Ctrl-C")}: stopping after the current step and saving " +
                                "the best model so far (Ctrl-C again to quit at once, saving nothing).");
        _stop.Cancel();
        return true;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKeyPress;
        _terminate.Dispose();
        _stop.Dispose();
    }
}
