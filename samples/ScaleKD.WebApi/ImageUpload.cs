using ScaleKD.Torch.Training.Data;
using SkiaSharp;

namespace ScaleKD.WebApi;

/// <summary>A client error in an upload, answered with a ProblemDetails body of this status.</summary>
public sealed class UploadException(int statusCode, string title, string detail) : Exception(detail)
{
    public int StatusCode { get; } = statusCode;
    public string Title { get; } = title;
}

/// <summary>
/// Reads the image file of a /predict request (multipart field "image", or a raw image/* or application/octet-stream
/// body) into memory within the size limits, and checks its header. Nothing is written to disk.
/// </summary>
public static class ImageUpload
{
    public const string FieldName = "image";

    /// <summary>The encoded image, in a format that decodes and within the pixel limit.</summary>
    public static async Task<byte[]> ReadAsync(HttpRequest request, ScaleKDServiceOptions limits, CancellationToken cancellationToken)
    {
        var bytes = await ReadBytesAsync(request, limits, cancellationToken);
        CheckHeader(bytes, limits.MaxImagePixels);
        return bytes;
    }

    static async Task<byte[]> ReadBytesAsync(HttpRequest request, ScaleKDServiceOptions limits, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limits.MaxRequestBytes)
            throw TooLarge(request.ContentLength.Value, limits);
        try
        {
            if (request.HasFormContentType)
            {
                var form = await request.ReadFormAsync(cancellationToken);
                var file = form.Files.GetFile(FieldName)
                    ?? throw new UploadException(StatusCodes.Status400BadRequest, "No image",
                        $"The multipart form has no file field '{FieldName}'.");
                if (file.Length > limits.MaxImageBytes)
                    throw TooLarge(file.Length, limits);
                using var stream = new MemoryStream((int)file.Length);
                await file.CopyToAsync(stream, cancellationToken);
                return stream.ToArray();
            }
            if (IsImageBody(request.ContentType))
                return await ReadBodyAsync(request.Body, limits, cancellationToken);
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's own body limit, or a malformed request.
            throw new UploadException(e.StatusCode, e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Image too large" : "Bad request", e.Message);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            // A malformed or truncated multipart body (the multipart reader throws IOException for a body that ends
            // before its closing boundary) is the client's error, not the server's.
            throw new UploadException(StatusCodes.Status400BadRequest, "Unreadable form", $"The multipart form could not be read: {e.Message}");
        }
        throw new UploadException(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type",
            $"Send multipart/form-data with the image in field '{FieldName}', or the image itself as an image/* or application/octet-stream body; got '{request.ContentType}'.");
    }

    static bool IsImageBody(string? contentType) =>
        contentType is not null && (contentType.StartsWith("image/", StringComparison.OrdinalIgnoreCase)
            || contentType.StartsWith("application/octet-stream", StringComparison.OrdinalIgnoreCase));

    /// <summary>Stops as soon as more than the limit has arrived, so a body without Content-Length is bounded too.</summary>
    static async Task<byte[]> ReadBodyAsync(Stream body, ScaleKDServiceOptions limits, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > limits.MaxImageBytes)
                throw TooLarge(buffer.Length, limits, atLeast: true);
        }
        return buffer.ToArray();
    }

    static UploadException TooLarge(long length, ScaleKDServiceOptions limits, bool atLeast = false) =>
        new(StatusCodes.Status413PayloadTooLarge, "Image too large",
            $"The upload is {(atLeast ? "over " : "")}{length} bytes; at most {limits.MaxImageBytes} bytes of image are accepted.");

    /// <summary>Checks the format and the pixel size from the header, without decoding the pixels.</summary>
    public static void CheckHeader(byte[] bytes, long maxPixels)
    {
        if (bytes.Length == 0)
            throw new UploadException(StatusCodes.Status400BadRequest, "Empty image", "The uploaded image has no bytes.");
        using var codec = SKCodec.Create(new MemoryStream(bytes, writable: false))
            ?? throw NotAnImage($"The {bytes.Length} uploaded bytes are not an image in a known format (PNG, JPEG, GIF, BMP, WebP, ICO).");
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        if ((long)width * height > maxPixels)
            throw new UploadException(StatusCodes.Status400BadRequest, "Image too large",
                $"The image is {width}×{height} pixels; at most {maxPixels} pixels are accepted.");
        // Skia decodes a PNG whose compressed pixels are damaged or cut short into a partly black image without an
        // error; inflating them first (cheap beside decoding) turns that into a 400 instead of a wrong answer.
        if (codec.EncodedFormat == SKEncodedImageFormat.Png && PngPixelData.Problem(new MemoryStream(bytes, writable: false)) is { } problem)
            throw NotAnImage($"The uploaded image is {problem}.");
    }

    /// <summary>The header was fine but the pixels were not.</summary>
    public static UploadException Undecodable(int length) =>
        NotAnImage($"The {length} uploaded bytes could not be decoded as an image.");

    static UploadException NotAnImage(string detail) => new(StatusCodes.Status400BadRequest, "Bad image", detail);
}
