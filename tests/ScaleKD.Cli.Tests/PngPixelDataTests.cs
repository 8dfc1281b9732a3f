using System.Buffers.Binary;
using System.IO.Compression;
using ScaleKD.Torch.Training.Data;
using SkiaSharp;

namespace ScaleKD.Cli.Tests;

/// <summary>A PNG whose chunks are intact but whose pixel data is damaged decodes to a partly blank image without an
/// error; the pre-flight check inflates every PNG to catch it. The damaged files here have valid chunk CRCs, as a
/// file corrupted before it was written (or re-encoded by a broken tool) would.</summary>
public sealed class PngPixelDataTests
{
    [Theory]
    [InlineData(SKColorType.Rgba8888)]
    [InlineData(SKColorType.Gray8)]
    public void EncodedImagesPass(SKColorType colorType)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(37, 21, colorType, SKAlphaType.Premul));
        var random = new Random(3);
        for (var y = 0; y < 21; y++)
            for (var x = 0; x < 37; x++)
                bitmap.SetPixel(x, y, new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
        using var encoded = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        Assert.Null(PngPixelData.Problem(new MemoryStream(encoded.ToArray())));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WholePixelDataPassesInterlacedOrNot(bool interlaced)
    {
        var png = Png(13, 11, interlaced, rows => rows);
        Assert.Null(PngPixelData.Problem(new MemoryStream(png)));
    }

    [Fact]
    public void GarbageThatDoesNotInflateIsNamed()
    {
        var garbage = new byte[200];
        new Random(7).NextBytes(garbage);
        garbage[0] = 0x78; // a zlib header, so that the damage is in the data and not in the first two bytes
        garbage[1] = 0x9C;
        var problem = PngPixelData.Problem(new MemoryStream(Png(13, 11, false, compressed: garbage)));
        Assert.NotNull(problem);
        Assert.StartsWith("a PNG whose pixel data", problem);
    }

    [Fact]
    public void DataThatEndsEarlyOrHasABadFilterTypeIsNamed()
    {
        var short_ = PngPixelData.Problem(new MemoryStream(Png(13, 11, false, rows => rows[..^14])));
        Assert.Equal("a PNG whose pixel data ends early (row 10 of 11): damaged or cut short", short_);
        var filter = PngPixelData.Problem(new MemoryStream(Png(13, 11, false, rows => { rows[3 * 14] = 9; return rows; })));
        Assert.Equal("a PNG whose pixel data is damaged (row 3 has filter type 9; PNG has 0 to 4)", filter);
    }

    [Fact]
    public void ThePreflightCheckOfFilesInflatesPngs()
    {
        var folder = Directory.CreateTempSubdirectory("scalekd-png-").FullName;
        try
        {
            var whole = Path.Combine(folder, "whole.png");
            var damaged = Path.Combine(folder, "damaged.png");
            File.WriteAllBytes(whole, Png(13, 11, false, rows => rows));
            File.WriteAllBytes(damaged, Png(13, 11, false, rows => { rows[5 * 14] = 200; return rows; }));
            var problem = Assert.Single(ImageFileCheck.Check([whole, damaged]));
            Assert.Equal(damaged, problem.Path);
            Assert.Contains("filter type 200", problem.Reason);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>An 8-bit grey PNG whose scanlines (filter byte 0, then a gradient) pass through <paramref name="edit"/>
    /// before compression, or whose IDAT holds <paramref name="compressed"/> as given; every chunk has its right CRC.</summary>
    static byte[] Png(int width, int height, bool interlaced, Func<byte[], byte[]>? edit = null, byte[]? compressed = null)
    {
        if (compressed is null)
        {
            var rows = new List<byte>();
            (int X0, int Y0, int Dx, int Dy)[] passes = interlaced
                ? [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
                : [(0, 0, 1, 1)];
            foreach (var (x0, y0, dx, dy) in passes)
                for (var y = y0; y < height; y += dy)
                {
                    if (x0 >= width)
                        break;
                    rows.Add(0);
                    for (var x = x0; x < width; x += dx)
                        rows.Add((byte)(x * 16 + y));
                }
            var data = new MemoryStream();
            using (var zlib = new ZLibStream(data, CompressionLevel.Optimal, leaveOpen: true))
                zlib.Write(edit!(rows.ToArray()));
            compressed = data.ToArray();
        }
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[12] = (byte)(interlaced ? 1 : 0);
        var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        Chunk(png, "IHDR", ihdr);
        Chunk(png, "IDAT", compressed);
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    static void Chunk(Stream png, string type, byte[] data)
    {
        var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        Span<byte> number = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(number, data.Length);
        png.Write(number);
        png.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(number, Crc32(typed));
        png.Write(number);
    }

    static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }
}
