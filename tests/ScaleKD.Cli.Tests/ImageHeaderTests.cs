using ScaleKD.Torch.Training.Data;
using SkiaSharp;

namespace ScaleKD.Cli.Tests;

/// <summary><see cref="ImageHeader"/> against files written by a real encoder (SkiaSharp, as ML.NET decodes with), and
/// against the damage the pre-flight check exists to catch. Here rather than in ScaleKD.Torch.Tests because the encoder
/// comes with the tool's dependencies.</summary>
[Trait("Category", "Cli")]
public sealed class ImageHeaderTests
{
    [Theory]
    [InlineData(SKEncodedImageFormat.Png, "PNG")]
    [InlineData(SKEncodedImageFormat.Jpeg, "JPEG")]
    [InlineData(SKEncodedImageFormat.Webp, "WebP")]
    public void ReadsTheSizeOfEncodedImages(SKEncodedImageFormat format, string name)
    {
        using var bitmap = new SKBitmap(37, 21);
        bitmap.Erase(SKColors.Coral);
        using var encoded = bitmap.Encode(format, 90);
        Assert.Equal(new ImageHeader(name, 37, 21), ImageHeader.Read(new MemoryStream(encoded.ToArray())));
    }

    [Fact]
    public void SkipsJpegMetadataBeforeTheFrameHeader()
    {
        using var bitmap = new SKBitmap(5000, 3);
        using var encoded = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        var jpeg = encoded.ToArray();
        // An APP1 segment of 60 KB (an EXIF block with a thumbnail, say) between the start marker and the rest.
        var app1 = new byte[60_000];
        app1[0] = 0xFF;
        app1[1] = 0xE1;
        app1[2] = (byte)((app1.Length - 2) >> 8);
        app1[3] = (byte)(app1.Length - 2);
        var withMetadata = jpeg[..2].Concat(app1).Concat(jpeg[2..]).ToArray();
        Assert.Equal(new ImageHeader("JPEG", 5000, 3), ImageHeader.Read(new MemoryStream(withMetadata)));
    }

    [Fact]
    public void ReadsBmpAndGifHeaders()
    {
        var bmp = new byte[54];
        "BM"u8.CopyTo(bmp);
        BitConverter.GetBytes(640).CopyTo(bmp, 18);
        BitConverter.GetBytes(-480).CopyTo(bmp, 22); // top-down rows
        Assert.Equal(new ImageHeader("BMP", 640, 480), ImageHeader.Read(new MemoryStream(bmp)));
        byte[] gif = [.. "GIF89a"u8, 0x20, 0x03, 0x58, 0x02, 0, 0, 0];
        Assert.Equal(new ImageHeader("GIF", 800, 600), ImageHeader.Read(new MemoryStream(gif)));
    }

    [Fact]
    public void RefusesTruncatedEmptyAndForeignFilesSayingWhy()
    {
        using var bitmap = new SKBitmap(20, 20);
        using var encoded = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        var png = encoded.ToArray();
        Assert.Contains("truncated PNG", Assert.Throws<InvalidDataException>(() => ImageHeader.Read(new MemoryStream(png[..^20]))).Message);
        Assert.Contains("empty", Assert.Throws<InvalidDataException>(() => ImageHeader.Read(new MemoryStream([]))).Message);
        Assert.Contains("not a PNG, JPEG", Assert.Throws<InvalidDataException>(() => ImageHeader.Read(new MemoryStream("PK\u0003\u0004"u8.ToArray()))).Message);
        using var jpegEncoded = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        Assert.Contains("JPEG", Assert.Throws<InvalidDataException>(() => ImageHeader.Read(new MemoryStream(jpegEncoded.ToArray()[..4]))).Message);
    }
}
