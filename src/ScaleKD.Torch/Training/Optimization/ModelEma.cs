using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Optimization;

/// <summary>
/// An exponential moving average of a model's parameters and buffers (timm's <c>ModelEmaV2</c>/<c>V3</c>), kept in a
/// full second instance of the model on the same device, so that it can be evaluated like the model itself.
/// <para>
/// TorchSharp cannot deep-copy a module generically (there is no <c>deepcopy</c>, and module fields hold native
/// handles), so the caller passes a factory that builds an identical, freshly initialised model; its state is then
/// overwritten with the model's. The pairing is by state-dict name, checked once, with shapes and dtypes.
/// </para>
/// </summary>
public sealed class ModelEma : IDisposable
{
    /// <summary>Starts the average as a copy of <paramref name="model"/>.</summary>
    /// <param name="model">The model being trained.</param>
    /// <param name="createIdenticalModel">Builds a model of the same architecture (same state-dict names and shapes),
    /// on any device; it is moved to <paramref name="model"/>'s device.</param>
    /// <param name="options">Decay settings; null for the defaults.</param>
    public ModelEma(nn.Module model, Func<nn.Module> createIdenticalModel, ModelEmaOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(createIdenticalModel);
        Options = options ?? new ModelEmaOptions();
        Module = createIdenticalModel() ?? throw new ArgumentException("The factory returned null.", nameof(createIdenticalModel));
        var device = model.parameters().Select(p => p.device).FirstOrDefault()
            ?? model.buffers().Select(b => b.device).FirstOrDefault()
            ?? CPU;
        Module.to(device);
        Module.eval();
        foreach (var parameter in Module.parameters())
            parameter.requires_grad = false;
        CheckSameState(model);
        Set(model);
    }

    /// <summary>The averaged model, in eval mode and without gradients; evaluate it like the trained model.</summary>
    public nn.Module Module { get; }

    /// <summary>The decay settings.</summary>
    public ModelEmaOptions Options { get; }

    /// <summary>Updates made so far; the next <see cref="Update"/> uses the decay of update <c>Updates + 1</c>.</summary>
    public long Updates { get; private set; }

    /// <summary>
    /// One averaging step after an optimizer step, in place and without gradients: ema ← d·ema + (1 − d)·model for
    /// floating-point parameters (and buffers unless <see cref="ModelEmaOptions.ExcludeBuffers"/>), copies otherwise;
    /// d is <see cref="ModelEmaOptions.DecayAt"/> of the update's number, so the first update copies.
    /// </summary>
    /// <param name="model">The model being trained (the one this average was made from).</param>
    public void Update(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        Updates++;
        var decay = Options.DecayAt(Updates);
        using var _ = no_grad();
        var parameterNames = Options.ExcludeBuffers ? model.named_parameters().Select(p => p.name).ToHashSet() : null;
        var source = model.state_dict();
        foreach (var (name, average) in Module.state_dict())
        {
            var value = source[name];
            var averaged = average.is_floating_point() && (parameterNames is null || parameterNames.Contains(name));
            if (averaged && decay != 0)
                average.mul_(decay).add_(value, alpha: 1 - decay);
            else
                average.copy_(value);
        }
    }

    /// <summary>Makes the average an exact copy of <paramref name="model"/> (the update count is kept).</summary>
    public void Set(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var _ = no_grad();
        var source = model.state_dict();
        foreach (var (name, average) in Module.state_dict())
            average.copy_(source[name]);
    }

    /// <summary>Writes the update count and every state tensor (by name), in TorchSharp's tensor format.</summary>
    public void Save(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var state = Module.state_dict();
        writer.Write(Updates);
        writer.Write(state.Count);
        foreach (var (name, tensor) in state)
        {
            writer.Write(name);
            tensor.Save(writer);
        }
    }

    /// <summary>Reads what <see cref="Save"/> wrote into this average, in place (on its device); names, shapes and
    /// dtypes must match.</summary>
    public void Load(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var state = Module.state_dict();
        var updates = reader.ReadInt64();
        var count = reader.ReadInt32();
        if (count != state.Count)
            throw new InvalidDataException($"The saved EMA has {count} tensors; this model has {state.Count}.");
        for (var i = 0; i < count; i++)
        {
            var name = reader.ReadString();
            if (!state.TryGetValue(name, out var tensor))
                throw new InvalidDataException($"The saved EMA has a tensor '{name}' that this model lacks.");
            tensor.Load(reader);
        }
        Updates = updates;
    }

    /// <summary>Disposes the averaged model.</summary>
    public void Dispose() => Module.Dispose();

    void CheckSameState(nn.Module model)
    {
        var source = model.state_dict();
        var copy = Module.state_dict();
        var problems = source.Keys.Except(copy.Keys).Select(k => $"'{k}' missing from the copy")
            .Concat(copy.Keys.Except(source.Keys).Select(k => $"'{k}' only in the copy"))
            .Concat(copy.Where(p => source.TryGetValue(p.Key, out var s) && (!s.shape.SequenceEqual(p.Value.shape) || s.dtype != p.Value.dtype))
                .Select(p => $"'{p.Key}' is {p.Value.dtype} ({string.Join(", ", p.Value.shape)}) in the copy but {source[p.Key].dtype} ({string.Join(", ", source[p.Key].shape)}) in the model"))
            .Take(5).ToList();
        if (problems.Count > 0)
            throw new ArgumentException("The factory's model differs from the trained one: " + string.Join("; ", problems) + ".", "createIdenticalModel");
    }
}
