using System.Buffers.Binary;
using System.IO.Compression;

namespace ScaleKD.Torch.Training.Data;

/// <summary>
/// Checks a PNG's pixel data without decoding it: its IDAT chunks must inflate to exactly the bytes its IHDR promises,
/// each row led by one of the five filter types. A PNG whose chunks are intact but whose compressed data is damaged
/// passes every header check, and the image decoder then returns a partly blank image without an error, so the run
/// would train on damaged pixels silently. Inflating costs a fraction of decoding and nothing is kept.
/// </summary>
public static class PngPixelData
{
    // Adam7's seven passes (x start, y start, x step, y step); a non-interlaced image is one pass over every pixel.
    static readonly (int X0, int Y0, int Dx, int Dy)[] Adam7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];
    static readonly (int X0, int Y0, int Dx, int Dy)[] Sequential = [(0, 0, 1, 1)];

    /// <summary>Why the PNG in <paramref name="stream"/> (seekable, from its start) cannot be used, or null when its pixel
    /// data is whole.</summary>
    public static string? Problem(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        stream.Position = 8;
        Span<byte> chunkHead = stackalloc byte[8];
        Span<byte> ihdr = stackalloc byte[13];
        if (ImageHeader.ReadUpTo(stream, chunkHead) < 8 || !chunkHead[4..].SequenceEqual("IHDR"u8) || ImageHeader.ReadUpTo(stream, ihdr) < 13)
            return "a PNG without its IHDR header (truncated or damaged)";
        var width = BinaryPrimitives.ReadInt32BigEndian(ihdr);
        var height = BinaryPrimitives.ReadInt32BigEndian(ihdr[4..]);
        int bitDepth = ihdr[8], colorType = ihdr[9], interlace = ihdr[12];
        var channels = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => 0 };
        if (channels == 0 || bitDepth is not (1 or 2 or 4 or 8 or 16) || interlace > 1)
            return $"a PNG with an invalid IHDR (colour type {colorType}, bit depth {bitDepth}, interlace {interlace})";
        stream.Position = 8 + 8 + 13 + 4;

        using var compressed = new MemoryStream();
        while (ImageHeader.ReadUpTo(stream, chunkHead) == 8)
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(chunkHead);
            if (length > stream.Length - stream.Position)
                return "a truncated PNG (a chunk runs past the end of the file)";
            if (chunkHead[4..].SequenceEqual("IEND"u8))
                break;
            if (chunkHead[4..].SequenceEqual("IDAT"u8))
            {
                var data = new byte[length];
                stream.ReadExactly(data);
                compressed.Write(data);
            }
            else
                stream.Seek(length, SeekOrigin.Current);
            stream.Seek(4, SeekOrigin.Current); // CRC
        }
        if (compressed.Length == 0)
            return "a PNG without pixel data (no IDAT chunk)";
        compressed.Position = 0;
        try
        {
            using var inflater = new ZLibStream(compressed, CompressionMode.Decompress);
            var bitsPerPixel = (long)channels * bitDepth;
            foreach (var (x0, y0, dx, dy) in interlace == 1 ? Adam7 : Sequential)
            {
                long passWidth = width > x0 ? (width - x0 + dx - 1) / dx : 0, passHeight = height > y0 ? (height - y0 + dy - 1) / dy : 0;
                if (passWidth == 0 || passHeight == 0)
                    continue;
                var row = new byte[1 + (passWidth * bitsPerPixel + 7) / 8];
                for (var y = 0; y < passHeight; y++)
                {
                    if (ImageHeader.ReadUpTo(inflater, row) < row.Length)
                        return $"a PNG whose pixel data ends early (row {y0 + y * dy} of {height}): damaged or cut short";
                    if (row[0] > 4)
                        return $"a PNG whose pixel data is damaged (row {y0 + y * dy} has filter type {row[0]}; PNG has 0 to 4)";
                }
            }
        }
        catch (InvalidDataException)
        {
            // .NET's own words here are about zip archives ("compressed using an unsupported compression method").
            return "a PNG whose pixel data is damaged (its compressed data does not inflate)";
        }
        return null;
    }
}
