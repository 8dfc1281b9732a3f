using System.Text;
using System.Text.Json;
using ScaleKD.Torch.IO;

namespace ScaleKD.Torch.Training;

/// <summary>
/// A training checkpoint on disk: a JSON metadata block and named binary sections (student weights, projector
/// weights, optimizer, EMA, best weights), written atomically (<see cref="AtomicFile"/>).
/// </summary>
/// <remarks>The file starts with <c>SKDCKPT</c> and the format version as one digit. Version 1 is the only one so far;
/// a file of another version is refused with a message that names it.</remarks>
public static class CheckpointFile
{
    /// <summary>The format version this build writes and reads.</summary>
    public const int FormatVersion = 1;

    static readonly byte[] MagicPrefix = "SKDCKPT"u8.ToArray();

    /// <summary>Writes atomically; <typeparamref name="TMetadata"/> is serialised as JSON.</summary>
    public static void Save<TMetadata>(string path, TMetadata metadata, IReadOnlyDictionary<string, byte[]> sections) =>
        AtomicFile.Write(path, stream =>
        {
            using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
            writer.Write(MagicPrefix);
            writer.Write((byte)('0' + FormatVersion));
            writer.Write(JsonSerializer.Serialize(metadata));
            writer.Write(sections.Count);
            foreach (var (name, bytes) in sections)
            {
                writer.Write(name);
                writer.Write(bytes.LongLength);
                writer.Write(bytes);
            }
        });

    /// <summary>Reads a checkpoint written by <see cref="Save{TMetadata}"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a complete ScaleKD checkpoint, or one of another format
    /// version; the message names the file (and the version).</exception>
    public static (TMetadata Metadata, Dictionary<string, byte[]> Sections) Load<TMetadata>(string path)
    {
        try
        {
            using var reader = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
            CheckMagic(reader.ReadBytes(MagicPrefix.Length + 1), path);
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

    static void CheckMagic(byte[] magic, string path)
    {
        if (magic.Length != MagicPrefix.Length + 1 || !magic.AsSpan(0, MagicPrefix.Length).SequenceEqual(MagicPrefix))
            throw new InvalidDataException($"'{path}' is not a ScaleKD training checkpoint.");
        var version = (char)magic[^1];
        if (version != '0' + FormatVersion)
            throw new InvalidDataException(
                $"'{path}' is a ScaleKD training checkpoint of format version {version}; this build reads version {FormatVersion}. " +
                "Resume it with the build that wrote it, or delete it to start over.");
    }
}
