using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>
/// A constant a module computes from its shape (timm's non-persistent buffers: relative-position indices, shifted-window
/// masks). It is deliberately not a registered buffer: in TorchSharp 0.107 <c>named_buffers</c> skips non-persistent
/// buffers even with <c>include_nonpersistent: true</c>, so <c>Module.to(device or dtype)</c> leaves them behind (checked:
/// a float non-persistent buffer stays float32 after <c>to(float64)</c>). The copy for another device or dtype is made on
/// first use and kept.
/// </summary>
internal sealed class DeviceConstant : IDisposable
{
    readonly Tensor _source;
    readonly Lock _lock = new();
    Tensor? _copy;

    public DeviceConstant(Tensor source) => _source = source.DetachFromDisposeScope();

    /// <summary>The constant on <paramref name="like"/>'s device, in its dtype when <paramref name="matchDtype"/>.</summary>
    public Tensor For(Tensor like, bool matchDtype)
    {
        var dtype = matchDtype ? like.dtype : _source.dtype;
        if (Fits(_source, like, dtype))
            return _source;
        lock (_lock)
        {
            if (_copy is null || !Fits(_copy, like, dtype))
            {
                // A copy for another device or dtype replaces the previous one; a model is normally used on one.
                _copy?.Dispose();
                using (no_grad())
                    _copy = _source.to(dtype, like.device).DetachFromDisposeScope();
            }
            return _copy;
        }
    }

    static bool Fits(Tensor t, Tensor like, ScalarType dtype) =>
        t.dtype == dtype && t.device_type == like.device_type && t.device_index == like.device_index;

    public void Dispose()
    {
        _copy?.Dispose();
        _source.Dispose();
    }
}
