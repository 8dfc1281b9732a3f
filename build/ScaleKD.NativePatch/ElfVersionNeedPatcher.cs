using System.Buffers.Binary;
using System.Text;

namespace ScaleKD.NativePatch;

/// <summary>What <see cref="ElfVersionNeedPatcher.MarkWeak"/> did to a file.</summary>
public enum VersionNeedPatchResult
{
    /// <summary>The version need was strong and is now weak; the file was rewritten.</summary>
    Patched,
    /// <summary>The version need was already weak; the file is untouched.</summary>
    AlreadyWeak,
    /// <summary>The file does not declare that version need; the file is untouched.</summary>
    NoSuchNeed,
}

/// <summary>
/// Marks one symbol-version requirement (an ELF64 <c>Vernaux</c> entry in SHT_GNU_verneed) as weak (VER_FLG_WEAK).
/// </summary>
/// <remarks>
/// libLibTorchSharp.so in TorchSharp 0.107 declares a need for GLIBCXX_3.4.32 (GCC 13), which Debian 12's libstdc++
/// (3.4.30) lacks, so the dynamic loader refuses it. The only symbol bound to that version is
/// <c>_ZSt21ios_base_library_initv</c>, a marker without relocations, so a weak need is safe: glibc then only
/// warns instead of failing. Exactly one 16-bit field changes; the rest of the file is byte-identical.
/// </remarks>
public static class ElfVersionNeedPatcher
{
    public const string TorchSharpLibStdCxxNeed = "GLIBCXX_3.4.32";
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlagWeak = 0x2;

    /// <summary>Sets VER_FLG_WEAK on the need for <paramref name="versionName"/>, rewriting the file atomically.</summary>
    /// <exception cref="InvalidDataException">The file is not a little-endian ELF64 object or its tables are malformed.</exception>
    public static VersionNeedPatchResult MarkWeak(string path, string versionName)
    {
        var bytes = File.ReadAllBytes(path);
        var flagsOffset = FindVernauxFlagsOffset(bytes, versionName, path);
        if (flagsOffset < 0)
            return VersionNeedPatchResult.NoSuchNeed;
        var flags = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(flagsOffset));
        if ((flags & VerFlagWeak) != 0)
            return VersionNeedPatchResult.AlreadyWeak;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(flagsOffset), (ushort)(flags | VerFlagWeak));
        WriteAtomically(path, bytes);
        return VersionNeedPatchResult.Patched;
    }

    /// <summary>True when the file's version-need table names <paramref name="versionName"/> with the weak flag set.</summary>
    public static bool IsWeak(string path, string versionName)
    {
        var bytes = File.ReadAllBytes(path);
        var offset = FindVernauxFlagsOffset(bytes, versionName, path);
        return offset >= 0 && (BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(offset)) & VerFlagWeak) != 0;
    }

    /// <summary>Returns the file offset of <c>vna_flags</c> of the entry naming <paramref name="versionName"/>, or -1.</summary>
    static int FindVernauxFlagsOffset(byte[] elf, string versionName, string path)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException($"{path}: not an ELF file.");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException($"{path}: only little-endian ELF64 is supported.");

        var span = elf.AsSpan();
        var sectionTable = checked((int)ReadU64(span, 0x28, path));
        var sectionSize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3A..]);
        var sectionCount = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3C..]);
        for (var i = 0; i < sectionCount; i++)
        {
            var header = sectionTable + i * sectionSize;
            if (ReadU32(span, header + 4, path) != ShtGnuVerneed)
                continue;
            var tableOffset = checked((int)ReadU64(span, header + 24, path));
            var entryCount = ReadU32(span, header + 44, path);
            var stringSection = sectionTable + (int)ReadU32(span, header + 40, path) * sectionSize;
            var strings = checked((int)ReadU64(span, stringSection + 24, path));

            var need = tableOffset;
            for (var n = 0; n < entryCount; n++)
            {
                var auxCount = BinaryPrimitives.ReadUInt16LittleEndian(span[(need + 2)..]);
                var aux = need + (int)ReadU32(span, need + 8, path);
                for (var a = 0; a < auxCount; a++)
                {
                    var name = ReadCString(span, strings + (int)ReadU32(span, aux + 8, path), path);
                    if (name == versionName)
                        return aux + 4;
                    aux += (int)ReadU32(span, aux + 12, path);
                }
                need += (int)ReadU32(span, need + 12, path);
            }
        }
        return -1;
    }

    static uint ReadU32(ReadOnlySpan<byte> elf, int offset, string path) =>
        offset >= 0 && offset + 4 <= elf.Length
            ? BinaryPrimitives.ReadUInt32LittleEndian(elf[offset..])
            : throw new InvalidDataException($"{path}: ELF table points outside the file (offset {offset}).");

    static ulong ReadU64(ReadOnlySpan<byte> elf, int offset, string path) =>
        offset >= 0 && offset + 8 <= elf.Length
            ? BinaryPrimitives.ReadUInt64LittleEndian(elf[offset..])
            : throw new InvalidDataException($"{path}: ELF table points outside the file (offset {offset}).");

    static string ReadCString(ReadOnlySpan<byte> elf, int offset, string path)
    {
        if (offset < 0 || offset >= elf.Length)
            throw new InvalidDataException($"{path}: ELF string offset {offset} is outside the file.");
        var end = elf[offset..].IndexOf((byte)0);
        if (end < 0)
            throw new InvalidDataException($"{path}: unterminated ELF string at offset {offset}.");
        return Encoding.ASCII.GetString(elf.Slice(offset, end));
    }

    /// <summary>Writes beside the target and renames, so a reader never sees a half-written file and hard links to
    /// the NuGet cache are broken rather than written through.</summary>
    static void WriteAtomically(string path, byte[] bytes)
    {
        var temp = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllBytes(temp, bytes);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(temp, File.GetUnixFileMode(path));
        File.Move(temp, path, overwrite: true);
    }
}
