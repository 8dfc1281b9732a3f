using ScaleKD.Torch.Weights;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training;

/// <summary>
/// Sums loss terms on the device, per reporting window and per epoch, and remembers on the device the first step at
/// which each term was NaN or infinite: nothing is read back to the host until <see cref="ReadWindow"/> or
/// <see cref="ReadEpoch"/>, so there is no device sync per step, and a bad step is still named exactly.
/// </summary>
sealed class LossTracker : IDisposable
{
    readonly OwnedTensors _window = new();
    readonly OwnedTensors _epoch = new();
    readonly OwnedTensors _firstBadStep = new();
    long _windowSteps;
    long _epochSteps;

    /// <summary>Adds one step's terms (and their total as <c>total</c>).</summary>
    public void Add(IReadOnlyDictionary<string, Tensor> terms, Tensor total, long globalStep)
    {
        using var noGrad = no_grad();
        foreach (var (name, value) in terms.Append(new KeyValuePair<string, Tensor>("total", total)))
        {
            var detached = value.detach().to(float64);
            Accumulate(_window, name, detached);
            Accumulate(_epoch, name, detached);
            if (!_firstBadStep.TryGetValue(name, out var firstBad))
                _firstBadStep.Add(name, firstBad = full(1, -1L, dtype: int64, device: value.device).DetachFromDisposeScope());
            using var bad = logical_and(isfinite(detached).logical_not(), firstBad.lt(0));
            using var step = full(1, globalStep, dtype: int64, device: value.device);
            using var updated = where(bad, step, firstBad);
            firstBad.copy_(updated);
        }
        _windowSteps++;
        _epochSteps++;
    }

    /// <summary>Means since the last call, then starts a new window.</summary>
    /// <exception cref="NonFiniteLossException">A term was NaN or infinite at some step so far.</exception>
    public IReadOnlyDictionary<string, double> ReadWindow(int epoch)
    {
        var means = Means(_window, _windowSteps, epoch);
        _window.Clear();
        _windowSteps = 0;
        return means;
    }

    /// <summary>Means over the epoch, then starts a new epoch (and window).</summary>
    /// <exception cref="NonFiniteLossException">A term was NaN or infinite at some step so far.</exception>
    public IReadOnlyDictionary<string, double> ReadEpoch(int epoch)
    {
        var means = Means(_epoch, _epochSteps, epoch);
        _epoch.Clear();
        _window.Clear();
        _epochSteps = _windowSteps = 0;
        return means;
    }

    IReadOnlyDictionary<string, double> Means(OwnedTensors sums, long steps, int epoch)
    {
        foreach (var (name, firstBad) in _firstBadStep)
        {
            var step = firstBad.item<long>();
            if (step >= 0)
                throw new NonFiniteLossException(
                    $"The loss term '{name}' became NaN or infinite at step {step + 1} (epoch {epoch}). Training stopped; the last " +
                    "checkpoint, if any, was written before it and is kept. Lower the learning rate, keep gradient clipping on, " +
                    "or check the input data for NaN values.");
        }
        return sums.ToDictionary(p => p.Key, p => steps == 0 ? double.NaN : p.Value.item<double>() / steps);
    }

    static void Accumulate(OwnedTensors sums, string name, Tensor value)
    {
        if (sums.TryGetValue(name, out var sum))
            sum.add_(value);
        else
            sums.Add(name, value.clone().DetachFromDisposeScope());
    }

    public void Dispose()
    {
        _window.Dispose();
        _epoch.Dispose();
        _firstBadStep.Dispose();
    }
}
