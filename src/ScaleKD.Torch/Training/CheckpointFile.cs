using System.Text;
using System.Text.Json;

namespace ScaleKD.Torch.Training;

/// <summary>
/// A training checkpoint on disk: a JSON metadata block and named binary sections (student weights, projector
/// weights, optimizer, EMA, best weights). Written to a temporary file, flushed to disk and renamed over the old one,
/// so a crash or SIGKILL leaves either the previous checkpoint or the new one, never a half-written file.
/// </summary>
public static class CheckpointFile
{
    static readonly byte[] Magic = "SKDCKPT1"u8.ToArray();

    /// <summary>Writes atomically; <typeparamref name="TMetadata"/> is serialised as JSON.</summary>
    public static void Save<TMetadata>(string path, TMetadata metadata, IReadOnlyDictionary<string, byte[]> sections)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        // A process killed while writing leaves its temporary file behind; the next writer removes it.
        foreach (var stale in Directory.EnumerateFiles(directory, $".{Path.GetFileName(path)}.*.tmp"))
            File.Delete(stale);
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
                {
                    writer.Write(Magic);
                    writer.Write(JsonSerializer.Serialize(metadata));
                    writer.Write(sections.Count);
                    foreach (var (name, bytes) in sections)
                    {
                        writer.Write(name);
                        writer.Write(bytes.LongLength);
                        writer.Write(bytes);
                    }
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Reads a checkpoint written by <see cref="Save{TMetadata}"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a complete ScaleKD checkpoint; the message names it.</exception>
    public static (TMetadata Metadata, Dictionary<string, byte[]> Sections) Load<TMetadata>(string path)
    {
        try
        {
            using var reader = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
            if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
                throw new InvalidDataException($"'{path}' is not a ScaleKD training checkpoint.");
            var metadata = JsonSerializer.Deserialize<TMetadata>(reader.ReadString())
                ?? throw new InvalidDataException($"'{path}' has empty checkpoint metadata.");
            var count = reader.ReadInt32();
            var sections = new Dictionary<string, byte[]>(count);
            for (var i = 0; i < count; i++)
            {
                var name = reader.ReadString();
                var length = reader.ReadInt64();
                var bytes = reader.ReadBytes(checked((int)length));
                if (bytes.Length != length)
                    throw new InvalidDataException($"'{path}' is truncated in section '{name}'.");
                sections[name] = bytes;
            }
            return (metadata, sections);
        }
        catch (Exception e) when (e is EndOfStreamException or JsonException)
        {
            throw new InvalidDataException($"'{path}' is not a complete ScaleKD training checkpoint: {e.Message}", e);
        }
    }
}
