using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using static TorchSharp.torch;

namespace ScaleKD.MLNet;

/// <summary>
/// Reads an image column, either <see cref="MLImage"/> (from <c>LoadImages</c>) or <c>VBuffer&lt;byte&gt;</c> holding an
/// encoded file (PNG, JPEG…), into an RGB float tensor (3, H, W) in [0, 1]. Grayscale images come out with R = G = B
/// (MLImage decodes to 4 bytes per pixel); alpha is dropped.
/// </summary>
sealed class ImageColumn
{
    readonly bool _encodedBytes;

    ImageColumn(string name, bool encodedBytes)
    {
        Name = name;
        _encodedBytes = encodedBytes;
    }

    public string Name { get; }

    /// <summary>Checks the column's type, naming the column and the accepted types on failure.</summary>
    public static ImageColumn Find(DataViewSchema schema, string name)
    {
        var column = schema.GetColumnOrNull(name)
            ?? throw new ArgumentOutOfRangeException(nameof(name), $"Image column '{name}' was not found in the input.");
        return FromType(name, column.Type);
    }

    /// <summary>What an image column may hold, in words for error messages.</summary>
    public const string AcceptedTypes = "an image (MLImage, from LoadImages) or Vector<Byte> holding an encoded image file";

    /// <summary>The one rule for image columns, for schemas (<see cref="FromType"/>) and schema shapes alike: a
    /// scalar MLImage, or a vector of bytes of any length (an encoded file, as LoadRawImageBytes gives).</summary>
    public static bool Accepts(bool isVector, DataViewType itemType) =>
        isVector ? itemType == NumberDataViewType.Byte : itemType is ImageDataViewType;

    /// <summary>Checks a column type against <see cref="Accepts"/>.</summary>
    public static ImageColumn FromType(string name, DataViewType type)
    {
        var isVector = type is VectorDataViewType;
        if (!Accepts(isVector, type.GetItemType()))
            throw new ArgumentOutOfRangeException(nameof(type), $"Image column '{name}' has type {type}; expected {AcceptedTypes}.");
        return new ImageColumn(name, encodedBytes: isVector);
    }

    /// <summary>A reader for one cursor: call it at each row; it decodes that row's image.</summary>
    public Func<long, Tensor> Reader(DataViewRow row)
    {
        var column = row.Schema[Name];
        if (_encodedBytes)
        {
            var getter = row.GetGetter<VBuffer<byte>>(column);
            VBuffer<byte> bytes = default;
            return rowIndex =>
            {
                getter(ref bytes);
                var dense = bytes.DenseValues().ToArray();
                MLImage image;
                try
                {
                    using var stream = new MemoryStream(dense, writable: false);
                    image = MLImage.CreateFromStream(stream);
                }
                catch (ArgumentException e)
                {
                    throw new InvalidDataException($"Row {rowIndex}: the bytes in column '{Name}' ({dense.Length} bytes) are not a decodable image.", e);
                }
                using (image)
                    return ToTensor(image);
            };
        }
        var imageGetter = row.GetGetter<MLImage>(column);
        MLImage current = null!;
        return rowIndex =>
        {
            try
            {
                imageGetter(ref current);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException)
            {
                throw new InvalidDataException($"Row {rowIndex}: the image in column '{Name}' could not be loaded: {e.Message}", e);
            }
            if (current is null || current.Width == 0 || current.Height == 0)
                throw new InvalidDataException($"Row {rowIndex}: column '{Name}' holds no image (the file is missing or not a decodable image).");
            return ToTensor(current);
        };
    }

    /// <summary>(3, H, W) float in [0, 1], RGB.</summary>
    public static Tensor ToTensor(MLImage image)
    {
        var pixels = image.Pixels.ToArray();
        using var scope = NewDisposeScope();
        var hwc = tensor(pixels, [image.Height, image.Width, 4]);
        long[] rgb = image.PixelFormat == MLPixelFormat.Bgra32 ? [2, 1, 0] : [0, 1, 2];
        return hwc.index_select(2, tensor(rgb)).permute(2, 0, 1).to(float32).div_(255f).MoveToOuterDisposeScope();
    }
}
