using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// Named projectors registered as child modules (state-dict keys <c>projectors.&lt;name&gt;.…</c>).
/// </summary>
/// <remarks>Not TorchSharp's ModuleDict: its two indexers are both public properties named <c>Item</c>, and
/// <c>Module.to(device or dtype)</c> indexes a module's public properties by name, so it throws on any module that
/// contains a ModuleDict.</remarks>
public sealed class ProjectorSet : nn.Module
{
    readonly Dictionary<string, nn.Module<Tensor, Tensor?, Tensor>> _byName = new(StringComparer.Ordinal);

    /// <summary>An empty set.</summary>
    public ProjectorSet() : base(nameof(ProjectorSet))
    {
    }

    /// <summary>Registers <paramref name="projector"/> under <paramref name="name"/>.</summary>
    public void Add(string name, nn.Module<Tensor, Tensor?, Tensor> projector)
    {
        register_module(name, projector);
        _byName.Add(name, projector);
    }

    /// <summary>The projector registered under <paramref name="name"/>.</summary>
    public nn.Module<Tensor, Tensor?, Tensor> Get(string name) => _byName[name];
}
