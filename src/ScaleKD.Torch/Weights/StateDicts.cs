using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Weights;

/// <summary>Strict comparison and loading of state dicts keyed by timm parameter names.</summary>
public static class StateDicts
{
    /// <summary>Compares a module's state dict with <paramref name="source"/>; keys in <paramref name="skip"/> are ignored on both sides.</summary>
    public static StateDictMismatch Compare(nn.Module module, IReadOnlyDictionary<string, Tensor> source, IReadOnlySet<string>? skip = null)
    {
        var target = module.state_dict();
        bool Kept(string key) => skip is null || !skip.Contains(key);
        var missing = target.Keys.Where(k => Kept(k) && !source.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var unexpected = source.Keys.Where(k => Kept(k) && !target.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var misShaped = target.Where(p => Kept(p.Key) && source.TryGetValue(p.Key, out var s) && !s.shape.SequenceEqual(p.Value.shape))
            .Select(p => new ShapeMismatch(p.Key, p.Value.shape, source[p.Key].shape))
            .OrderBy(m => m.Key, StringComparer.Ordinal)
            .ToList();
        return new StateDictMismatch(missing, unexpected, misShaped);
    }

    /// <summary>Copies <paramref name="source"/> into the module (converting dtypes), failing before any copy when a
    /// key is missing, unexpected or mis-shaped.</summary>
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
            if (skip is null || !skip.Contains(key))
                target.copy_(source[key]);
        }
    }
}
