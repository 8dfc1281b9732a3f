using System.Buffers.Binary;

namespace ScaleKD.Torch.Training.Data;

/// <summary>
/// The format and pixel size of an encoded image (PNG, JPEG, BMP, GIF or WebP), read from its header alone: a data set
/// of many thousands of files is checked in seconds before training, and a server learns how large an upload will be
/// once decoded before it decodes it.
/// </summary>
/// <param name="Format">PNG, JPEG, BMP, GIF or WebP.</param>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
public readonly record struct ImageHeader(string Format, int Width, int Height)
{
    /// <summary>Width × height: what the decoded image costs, per channel.</summary>
    public long Pixels => (long)Width * Height;

    /// <summary>Reads the header of an image file; a PNG is also checked for its end chunk (a cut-off download or copy).</summary>
    /// <exception cref="InvalidDataException">Not an image of a known format, or a damaged one; the message says why.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static ImageHeader ReadFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 4096);
        return Read(stream);
    }

    /// <summary>Reads the header of an encoded image from the start of <paramref name="stream"/> (a file or a
    /// <see cref="MemoryStream"/>: it must seek, to skip JPEG metadata and to find a PNG's IEND chunk, which a truncated
    /// file lacks).</summary>
    /// <exception cref="InvalidDataException">Not an image of a known format, or a damaged one; the message says why.</exception>
    public static ImageHeader Read(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanSeek)
            throw new ArgumentException("The stream must be seekable.", nameof(stream));
        stream.Position = 0;
        Span<byte> head = stackalloc byte[32];
        var count = ReadUpTo(stream, head);
        head = head[..count];
        if (count == 0)
            throw new InvalidDataException("the file is empty");
        var header = head switch
        {
            [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Png(head, stream),
            [0xFF, 0xD8, 0xFF, ..] => Jpeg(stream),
            [(byte)'B', (byte)'M', ..] => Bmp(head),
            [(byte)'G', (byte)'I', (byte)'F', (byte)'8', (byte)'7' or (byte)'9', (byte)'a', ..] => Gif(head),
            [(byte)'R', (byte)'I', (byte)'F', (byte)'F', _, _, _, _, (byte)'W', (byte)'E', (byte)'B', (byte)'P', ..] => WebP(head),
            _ => throw new InvalidDataException("not a PNG, JPEG, BMP, GIF or WebP image (unknown signature)"),
        };
        if (header.Width <= 0 || header.Height <= 0)
            throw new InvalidDataException($"the {header.Format} header gives a size of {header.Width}×{header.Height} pixels");
        return header;
    }

    static ImageHeader Png(ReadOnlySpan<byte> head, Stream stream)
    {
        // Signature (8), then the IHDR chunk: length (4), type (4), width (4, big-endian), height (4).
        if (head.Length < 24 || !head[12..16].SequenceEqual("IHDR"u8))
            throw new InvalidDataException("a PNG without its IHDR header (truncated or damaged)");
        var header = new ImageHeader("PNG", BinaryPrimitives.ReadInt32BigEndian(head[16..]), BinaryPrimitives.ReadInt32BigEndian(head[20..]));
        // Every PNG ends in an empty IEND chunk: length 0, "IEND", CRC. A file cut short lacks it, and a decoder may
        // still return a partly grey image without an error; that would train silently on damaged pixels.
        Span<byte> tail = stackalloc byte[12];
        if (stream.Length < 12 + 24)
            throw new InvalidDataException("a truncated PNG (no IEND chunk at its end)");
        stream.Seek(-12, SeekOrigin.End);
        if (ReadUpTo(stream, tail) < 12 || !tail[4..8].SequenceEqual("IEND"u8))
            throw new InvalidDataException("a truncated PNG (no IEND chunk at its end)");
        return header;
    }

    /// <summary>Walks the JPEG's segments (each a marker and a length) to the first start-of-frame, which holds the size;
    /// metadata segments (EXIF, ICC profiles) before it are skipped, not read.</summary>
    static ImageHeader Jpeg(Stream stream)
    {
        Span<byte> segment = stackalloc byte[9];
        var position = 2L;
        while (true)
        {
            stream.Position = position;
            if (ReadUpTo(stream, segment[..4]) < 4)
                throw new InvalidDataException("a JPEG that ends before its frame header (truncated or damaged)");
            if (segment[0] != 0xFF)
                throw new InvalidDataException($"a damaged JPEG (no segment marker at byte {position})");
            var marker = segment[1];
            if (marker == 0xFF)
            {
                position++; // fill byte
                continue;
            }
            var length = BinaryPrimitives.ReadUInt16BigEndian(segment[2..]);
            // SOF0–SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC), which share the range.
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                if (ReadUpTo(stream, segment[4..9]) < 5)
                    throw new InvalidDataException("a JPEG whose frame header is cut short");
                return new ImageHeader("JPEG", BinaryPrimitives.ReadUInt16BigEndian(segment[7..]), BinaryPrimitives.ReadUInt16BigEndian(segment[5..]));
            }
            if (marker is 0xD9 or 0xDA)
                throw new InvalidDataException("a JPEG without a frame header before its image data");
            if (length < 2)
                throw new InvalidDataException($"a damaged JPEG (segment length {length} at byte {position})");
            position += 2 + length;
        }
    }

    static ImageHeader Bmp(ReadOnlySpan<byte> head)
    {
        if (head.Length < 26)
            throw new InvalidDataException("a BMP without its header (truncated)");
        // BITMAPINFOHEADER and later: width and height as signed 32-bit (height negative for top-down rows).
        return new ImageHeader("BMP", BinaryPrimitives.ReadInt32LittleEndian(head[18..]), Math.Abs(BinaryPrimitives.ReadInt32LittleEndian(head[22..])));
    }

    static ImageHeader Gif(ReadOnlySpan<byte> head) =>
        head.Length < 10
            ? throw new InvalidDataException("a GIF without its screen descriptor (truncated)")
            : new ImageHeader("GIF", BinaryPrimitives.ReadUInt16LittleEndian(head[6..]), BinaryPrimitives.ReadUInt16LittleEndian(head[8..]));

    static ImageHeader WebP(ReadOnlySpan<byte> head)
    {
        if (head.Length < 30)
            throw new InvalidDataException("a WebP without its header (truncated)");
        var chunk = head[12..16];
        if (chunk.SequenceEqual("VP8X"u8))
            return new ImageHeader("WebP", 1 + Int24(head[24..]), 1 + Int24(head[27..]));
        if (chunk.SequenceEqual("VP8L"u8))
        {
            var bits = BinaryPrimitives.ReadUInt32LittleEndian(head[21..]);
            return new ImageHeader("WebP", 1 + (int)(bits & 0x3FFF), 1 + (int)((bits >> 14) & 0x3FFF));
        }
        if (chunk.SequenceEqual("VP8 "u8))
            return new ImageHeader("WebP", BinaryPrimitives.ReadUInt16LittleEndian(head[26..]) & 0x3FFF, BinaryPrimitives.ReadUInt16LittleEndian(head[28..]) & 0x3FFF);
        throw new InvalidDataException("a WebP of an unknown kind (no VP8, VP8L or VP8X chunk)");
    }

    static int Int24(ReadOnlySpan<byte> bytes) => bytes[0] | bytes[1] << 8 | bytes[2] << 16;

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; returns the bytes read.</summary>
    internal static int ReadUpTo(Stream stream, Span<byte> buffer)
    {
        var total = 0;
        int read;
        while (total < buffer.Length && (read = stream.Read(buffer[total..])) > 0)
            total += read;
        return total;
    }
}
