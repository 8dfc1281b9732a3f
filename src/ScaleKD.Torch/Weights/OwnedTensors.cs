using System.Collections;
using System.Diagnostics.CodeAnalysis;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Weights;

/// <summary>
/// Named tensors that this dictionary owns: <see cref="Clear"/> and <see cref="Dispose"/> free them all, so "read the
/// tensors, use them, free them" is one <c>using</c>.
/// </summary>
public sealed class OwnedTensors : IReadOnlyDictionary<string, Tensor>, IDisposable
{
    readonly Dictionary<string, Tensor> _tensors;

    /// <summary>An empty dictionary.</summary>
    public OwnedTensors() => _tensors = new(StringComparer.Ordinal);

    /// <summary>Takes ownership of <paramref name="tensors"/>.</summary>
    public OwnedTensors(Dictionary<string, Tensor> tensors) => _tensors = tensors;

    /// <summary>Adds a tensor, which this dictionary then owns.</summary>
    public void Add(string name, Tensor tensor) => _tensors.Add(name, tensor);

    /// <summary>Frees every tensor and empties the dictionary.</summary>
    public void Clear()
    {
        foreach (var tensor in _tensors.Values)
            tensor.Dispose();
        _tensors.Clear();
    }

    /// <summary>Frees every tensor.</summary>
    public void Dispose() => Clear();

    /// <inheritdoc />
    public Tensor this[string key] => _tensors[key];

    /// <inheritdoc />
    public IEnumerable<string> Keys => _tensors.Keys;

    /// <inheritdoc />
    public IEnumerable<Tensor> Values => _tensors.Values;

    /// <inheritdoc />
    public int Count => _tensors.Count;

    /// <inheritdoc />
    public bool ContainsKey(string key) => _tensors.ContainsKey(key);

    /// <inheritdoc />
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out Tensor value) => _tensors.TryGetValue(key, out value);

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator() => _tensors.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
