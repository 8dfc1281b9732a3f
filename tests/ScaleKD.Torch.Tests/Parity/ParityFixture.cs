using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Parity;

/// <summary>
/// One fixture written by tests/reference/make_fixtures.py (Debian's PyTorch 1.13): parameters under <c>param.</c>,
/// inputs under <c>input.</c>, outputs under <c>output.</c> and gradients under <c>grad.</c>.
/// </summary>
sealed class ParityFixture : IDisposable
{
    readonly Dictionary<string, Tensor> _tensors;

    ParityFixture(string name, Dictionary<string, Tensor> tensors)
    {
        Name = name;
        _tensors = tensors;
    }

    public string Name { get; }

    public static ParityFixture Load(string name)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "fixtures", name + ".safetensors");
        if (!File.Exists(path))
            throw new FileNotFoundException($"Fixture {name} is missing; run /usr/bin/python3 tests/reference/make_fixtures.py.", path);
        return new ParityFixture(name, Safetensors.LoadStateDict(path));
    }

    public Tensor this[string key] => _tensors.TryGetValue(key, out var t)
        ? t
        : throw new KeyNotFoundException($"Fixture {Name} has no tensor '{key}'. It has: {string.Join(", ", _tensors.Keys.Order())}.");

    public Tensor Input(string name) => this["input." + name];
    public Tensor Output(string name) => this["output." + name];
    public Tensor Grad(string name) => this["grad." + name];
    public float Scalar(string key) => this[key].item<float>();
    public bool Has(string key) => _tensors.ContainsKey(key);

    /// <summary>The <c>param.</c> entries under <paramref name="prefix"/> (which is removed), as a state dict.</summary>
    public Dictionary<string, Tensor> Parameters(string prefix = "") =>
        _tensors.Where(p => p.Key.StartsWith("param." + prefix, StringComparison.Ordinal))
            .ToDictionary(p => p.Key[("param." + prefix).Length..], p => p.Value);

    public void Dispose()
    {
        foreach (var t in _tensors.Values)
            t.Dispose();
    }
}
