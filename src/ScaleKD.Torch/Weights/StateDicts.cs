using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Weights;

/// <summary>Strict comparison and loading of state dicts keyed by timm parameter names.</summary>
public static class StateDicts
{
    /// <summary>Compares a module's state dict with <paramref name="source"/>; keys in <paramref name="skip"/> are ignored on both sides.
    /// A BatchNorm step counter (<c>num_batches_tracked</c>) absent from the source is not missing: many published
    /// checkpoints omit it, and PyTorch loads them keeping the module's own counter (<see cref="OptionalKeys"/>).</summary>
    public static StateDictMismatch Compare(nn.Module module, IReadOnlyDictionary<string, Tensor> source, IReadOnlySet<string>? skip = null)
    {
        var target = module.state_dict();
        bool Kept(string key) => skip is null || !skip.Contains(key);
        var optional = OptionalKeys(module);
        var missing = target.Keys.Where(k => Kept(k) && !source.ContainsKey(k) && !optional.Contains(k)).Order(StringComparer.Ordinal).ToList();
        var unexpected = source.Keys.Where(k => Kept(k) && !target.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var misShaped = target.Where(p => Kept(p.Key) && source.TryGetValue(p.Key, out var s) && !s.shape.SequenceEqual(p.Value.shape))
            .Select(p => new ShapeMismatch(p.Key, p.Value.shape, source[p.Key].shape))
            .OrderBy(m => m.Key, StringComparer.Ordinal)
            .ToList();
        return new StateDictMismatch(missing, unexpected, misShaped);
    }

    /// <summary>Copies <paramref name="source"/> into the module (converting dtypes), failing before any copy when a
    /// key is missing, unexpected or mis-shaped. BatchNorm step counters the source lacks keep their values.</summary>
    /// <param name="origin">Where the tensors came from, for the error message.</param>
    /// <exception cref="InvalidDataException">The state dicts differ; the message names every key at fault.</exception>
    public static void LoadStrict(nn.Module module, IReadOnlyDictionary<string, Tensor> source, string origin, IReadOnlySet<string>? skip = null)
    {
        var mismatch = Compare(module, source, skip);
        if (!mismatch.IsEmpty)
            throw new InvalidDataException($"{origin} does not fit {module.GetName()}:{Environment.NewLine}{mismatch.Describe()}");
        using var noGrad = no_grad();
        foreach (var (key, target) in module.state_dict())
        {
            // An optional key the source lacks keeps the module's value (Compare let it through).
            if ((skip is null || !skip.Contains(key)) && source.TryGetValue(key, out var value))
                target.copy_(value);
        }
    }

    /// <summary>The keys a source may leave out: the <c>num_batches_tracked</c> counters of the module's BatchNorm (and
    /// other normalisation) layers. Like PyTorch's <c>_NormBase._load_from_state_dict</c>, loading a file without them
    /// keeps the counters' current values; the counter only matters for a cumulative moving average (momentum null).</summary>
    public static IReadOnlySet<string> OptionalKeys(nn.Module module) =>
        module.named_modules()
            .Where(m => m.module is NormBase)
            .Select(m => m.name.Length == 0 ? NumBatchesTracked : $"{m.name}.{NumBatchesTracked}")
            .ToHashSet(StringComparer.Ordinal);

    const string NumBatchesTracked = "num_batches_tracked";
}
