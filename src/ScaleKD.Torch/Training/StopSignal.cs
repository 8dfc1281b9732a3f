namespace ScaleKD.Torch.Training;

/// <summary>
/// Whether the caller wants a run to stop (keeping the work so far): its cancellation token, or its liveness check,
/// which throws <see cref="OperationCanceledException"/> once the caller is cancelled (ML.NET's <c>Host.CheckAlive</c>
/// is one). Once asked to stop, it stays stopped.
/// </summary>
sealed class StopSignal(CancellationToken cancellationToken, Action? checkAlive)
{
    bool _stopped;

    /// <summary>The token, for waits and data reads.</summary>
    public CancellationToken Token => cancellationToken;

    /// <summary>True once a stop was asked for; asks the liveness check each time until then.</summary>
    public bool IsRequested
    {
        get
        {
            if (_stopped || cancellationToken.IsCancellationRequested)
                return _stopped = true;
            try
            {
                checkAlive?.Invoke();
                return false;
            }
            catch (OperationCanceledException)
            {
                return _stopped = true;
            }
        }
    }
}
