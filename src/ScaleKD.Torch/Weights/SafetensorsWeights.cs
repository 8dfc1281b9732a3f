using ScaleKD.Torch.IO;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Weights;

/// <summary>Model weights as safetensors files with timm parameter names, readable by timm and Hugging Face.</summary>
public static class SafetensorsWeights
{
    /// <summary>Writes the module's state dict to <paramref name="path"/> atomically (<see cref="AtomicFile"/>).</summary>
    public static void Save(nn.Module module, string path) => AtomicFile.Write(path, stream => Write(module, stream));

    /// <summary>The module's state dict as safetensors bytes (for checkpoints and in-memory snapshots).</summary>
    public static byte[] ToBytes(nn.Module module)
    {
        using var stream = new MemoryStream();
        Write(module, stream);
        return stream.ToArray();
    }

    /// <summary>Copies a <see cref="ToBytes"/> snapshot back into the module in place (its Parameter objects stay,
    /// so optimizers built on them remain valid), strictly.</summary>
    public static void LoadBytes(nn.Module module, byte[] bytes, string origin)
    {
        OwnedTensors tensors;
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            tensors = new OwnedTensors(Safetensors.LoadStateDict(stream));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"{origin} is not readable safetensors data: {e.Message}", e);
        }
        using (tensors)
            StateDicts.LoadStrict(module, tensors, origin);
    }

    static void Write(nn.Module module, Stream stream)
    {
        using var scope = NewDisposeScope();
        var state = module.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().cpu().contiguous());
        Safetensors.SaveStateDict(stream, state);
    }

    /// <summary>Reads all tensors of a safetensors file; dispose the result to free them.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a readable safetensors file.</exception>
    public static OwnedTensors Read(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException(Directory.Exists(path) ? $"Weights file '{path}' is a folder; pass the .safetensors file in it."
                : $"Weights file '{path}' does not exist.", path);
        try
        {
            return new OwnedTensors(Safetensors.LoadStateDict(path));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            if (IsPyTorchPickle(path))
                throw new InvalidDataException($"'{path}' is a PyTorch pickle (torch.save: .pt, .pth, .bin), not safetensors. Convert it in " +
                                               "Python: from safetensors.torch import save_file; save_file(torch.load(PATH, map_location='cpu'), 'weights.safetensors') " +
                                               "(take ['model'] or ['state_dict'] of what torch.load returns when the weights are inside it).", e);
            throw new InvalidDataException($"'{path}' is not a readable safetensors file: {e.Message}", e);
        }
    }

    /// <summary>torch.save writes a zip (since PyTorch 1.6) or, before, a bare pickle (protocol 2+ starts with 0x80).
    /// Asked only once the file failed to read as safetensors, whose first bytes (its header's length) can look alike.</summary>
    static bool IsPyTorchPickle(string path)
    {
        Span<byte> start = stackalloc byte[4];
        using var file = File.OpenRead(path);
        var read = file.Read(start);
        return read >= 4 && start[..4].SequenceEqual("PK\u0003\u0004"u8) || read >= 2 && start[0] == 0x80 && start[1] is >= 2 and <= 5;
    }

    /// <summary>Loads a safetensors file into the module strictly: every key must match by name and shape.</summary>
    /// <param name="skip">Keys to leave as they are in the module, e.g. a classifier being replaced.</param>
    /// <exception cref="InvalidDataException">Keys are missing, unexpected or mis-shaped; the message names them.</exception>
    public static void Load(nn.Module module, string path, IReadOnlySet<string>? skip = null)
    {
        using var tensors = Read(path);
        StateDicts.LoadStrict(module, tensors, $"'{path}'", skip);
    }
}
