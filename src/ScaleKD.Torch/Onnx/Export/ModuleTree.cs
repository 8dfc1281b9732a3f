using ScaleKD.Torch.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Onnx.Export;

/// <summary>
/// A model's submodules and parameters by their timm paths (<c>layer1.0.conv1</c>, <c>blocks.3.attn.qkv</c>), the
/// names its state dict uses, so each family's exporter reads the same structure the forward pass runs. A missing or
/// differently typed module fails with the model's name and the path.
/// </summary>
sealed class ModuleTree
{
    readonly string _model;
    readonly Dictionary<string, nn.Module> _modules;
    readonly Dictionary<string, Tensor> _parameters;

    public ModuleTree(VisionModel model)
    {
        _model = model.GetName();
        _modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        _parameters = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);
    }

    /// <summary>The module at <paramref name="path"/>, which must be a <typeparamref name="T"/>.</summary>
    public T Get<T>(string path) where T : nn.Module =>
        Find<T>(path) ?? throw new InvalidOperationException(
            _modules.ContainsKey(path)
                ? $"{_model}: module '{path}' is a {_modules[path].GetType().Name}, not the {typeof(T).Name} the ONNX exporter expects."
                : $"{_model} has no module '{path}', which the ONNX exporter expects.");

    /// <summary>The module at <paramref name="path"/> if there is one of type <typeparamref name="T"/>, else null.</summary>
    public T? Find<T>(string path) where T : nn.Module =>
        _modules.TryGetValue(path, out var module) ? module as T : null;

    /// <summary>Whether a module exists at <paramref name="path"/>.</summary>
    public bool Has(string path) => _modules.ContainsKey(path);

    /// <summary>The parameter at <paramref name="path"/> (e.g. <c>cls_token</c>, <c>stem.1.weight</c>).</summary>
    public Tensor Parameter(string path) =>
        _parameters.TryGetValue(path, out var parameter) ? parameter
        : throw new InvalidOperationException($"{_model} has no parameter '{path}', which the ONNX exporter expects.");

    /// <summary>How many numbered children (<c>path.0</c>, <c>path.1</c>, …) a container module has.</summary>
    public int Count(string path)
    {
        var count = 0;
        while (_modules.ContainsKey($"{path}.{count}"))
            count++;
        return count;
    }
}
