using System.Buffers.Binary;
using System.IO.Compression;
using ScaleKD.Torch.IO;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Data;

/// <summary>
/// Images and labels in the IDX format of MNIST and Fashion-MNIST (gzipped or not), read batch by batch with random
/// access: only the labels are held in memory. A gzipped image file is inflated once into a cache file.
/// </summary>
public sealed class IdxImageSource : IBatchSource
{
    readonly string _imagePath;
    readonly byte[] _labels;
    readonly int[] _indices;
    readonly int _height;
    readonly int _width;
    readonly long _dataOffset;

    IdxImageSource(string imagePath, byte[] labels, int[] indices, int height, int width, long dataOffset, IReadOnlyList<string> classNames)
    {
        _imagePath = imagePath;
        _labels = labels;
        _indices = indices;
        _height = height;
        _width = width;
        _dataOffset = dataOffset;
        ClassNames = classNames;
    }

    /// <inheritdoc />
    public int ClassCount => ClassNames.Count;

    /// <inheritdoc />
    public long Count => _indices.Length;

    /// <inheritdoc />
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Image height and width in pixels.</summary>
    public (int Height, int Width) ImageSize => (_height, _width);

    /// <summary>The images this source reads, by their position in the IDX file (a subset's choice, for a job export).</summary>
    public IReadOnlyList<int> Indices => _indices;

    /// <summary>How many images the IDX file holds.</summary>
    public int FileCount => _labels.Length;

    /// <summary>Opens an images file and its labels file.</summary>
    /// <param name="classNames">Names by label; their count is the class count.</param>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">A file is not IDX, or the two disagree; the message names the file.</exception>
    public static IdxImageSource Open(string imagesPath, string labelsPath, IReadOnlyList<string> classNames)
    {
        var labels = ReadLabels(labelsPath);
        var images = Inflated(imagesPath);
        using var stream = File.OpenRead(images);
        Span<byte> header = stackalloc byte[16];
        stream.ReadExactly(header);
        if (BinaryPrimitives.ReadInt32BigEndian(header) != 0x00000803)
            throw new InvalidDataException($"{imagesPath}: not an IDX file of unsigned-byte images (magic 0x00000803).");
        var count = BinaryPrimitives.ReadInt32BigEndian(header[4..]);
        var height = BinaryPrimitives.ReadInt32BigEndian(header[8..]);
        var width = BinaryPrimitives.ReadInt32BigEndian(header[12..]);
        if (count != labels.Length)
            throw new InvalidDataException($"{imagesPath} holds {count} images but {labelsPath} holds {labels.Length} labels.");
        if (stream.Length < 16 + (long)count * height * width)
            throw new InvalidDataException($"{imagesPath} is truncated: {count} images of {height}×{width} need {16 + (long)count * height * width} bytes, the file has {stream.Length}.");
        var bad = Array.FindIndex(labels, l => l >= classNames.Count);
        if (bad >= 0)
            throw new InvalidDataException($"{labelsPath}: label {labels[bad]} at index {bad} is outside the {classNames.Count} classes.");
        return new IdxImageSource(images, labels, Enumerable.Range(0, count).ToArray(), height, width, 16, classNames);
    }

    /// <summary>A subset of <paramref name="count"/> examples with the classes in equal shares (as far as possible),
    /// chosen by <paramref name="seed"/>: the data-limited regime.</summary>
    public IdxImageSource TakeStratified(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        if (count >= _indices.Length)
            return this;
        var random = new Random(seed);
        var byClass = _indices.GroupBy(i => _labels[i]).OrderBy(g => g.Key)
            .Select(g => g.OrderBy(_ => random.Next()).ToArray()).ToArray();
        var taken = new List<int>(count);
        for (var round = 0; taken.Count < count; round++)
            foreach (var members in byClass)
                if (round < members.Length && taken.Count < count)
                    taken.Add(members[round]);
        taken.Sort();
        return new IdxImageSource(_imagePath, _labels, taken.ToArray(), _height, _width, _dataOffset, ClassNames);
    }

    /// <summary>Splits off <paramref name="count"/> examples chosen as <see cref="TakeStratified"/> chooses them, and
    /// returns them beside the rest: a validation split that never overlaps the training images.</summary>
    public (IdxImageSource Remaining, IdxImageSource HeldOut) SplitStratified(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(count, _indices.Length);
        var heldOut = TakeStratified(count, seed);
        var taken = heldOut._indices.ToHashSet();
        return (new IdxImageSource(_imagePath, _labels, _indices.Where(i => !taken.Contains(i)).ToArray(), _height, _width, _dataOffset, ClassNames), heldOut);
    }

    /// <summary>The first <paramref name="count"/> examples.</summary>
    public IdxImageSource Take(int count) =>
        new(_imagePath, _labels, _indices.Take(count).ToArray(), _height, _width, _dataOffset, ClassNames);

    /// <summary>Label of every example in this source, in source order.</summary>
    public IReadOnlyList<int> Labels => _indices.Select(i => (int)_labels[i]).ToArray();

    /// <inheritdoc />
    public IEnumerable<LabeledBatch> ReadBatches(BatchRequest request, CancellationToken cancellationToken = default)
    {
        var order = IndexOrder.For(_indices.Length, request);
        var pixels = _height * _width;
        using var handle = File.OpenHandle(_imagePath);
        foreach (var chunk in IndexOrder.Chunks(order, request))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var bytes = new byte[chunk.Count * pixels];
            var labels = new long[chunk.Count];
            for (var i = 0; i < chunk.Count; i++)
            {
                var example = _indices[chunk[i]];
                RandomAccess.Read(handle, bytes.AsSpan(i * pixels, pixels), _dataOffset + (long)example * pixels);
                labels[i] = _labels[example];
            }
            using var raw = tensor(bytes, [chunk.Count, 1, _height, _width]);
            yield return new LabeledBatch(raw.to(float32).div_(255f), tensor(labels));
        }
    }

    static byte[] ReadLabels(string path)
    {
        using var stream = OpenMaybeGzip(path);
        Span<byte> header = stackalloc byte[8];
        stream.ReadExactly(header);
        if (BinaryPrimitives.ReadInt32BigEndian(header) != 0x00000801)
            throw new InvalidDataException($"{path}: not an IDX label file (magic 0x00000801).");
        var labels = new byte[BinaryPrimitives.ReadInt32BigEndian(header[4..])];
        try
        {
            stream.ReadExactly(labels);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{path} is truncated: it announces {labels.Length} labels.");
        }
        return labels;
    }

    static Stream OpenMaybeGzip(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"IDX file '{path}' does not exist.", path);
        Stream stream = File.OpenRead(path);
        return path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(stream, CompressionMode.Decompress) : stream;
    }

    /// <summary>The path of an uncompressed copy: the file itself, or a cache file inflated once (atomically).</summary>
    static string Inflated(string path)
    {
        if (!path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
            return File.Exists(path) ? path : throw new FileNotFoundException($"IDX file '{path}' does not exist.", path);
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new FileNotFoundException($"IDX file '{path}' does not exist.", path);
        var cacheDirectory = Path.Combine(Path.GetTempPath(), "scalekd-idx-cache");
        Directory.CreateDirectory(cacheDirectory);
        var cached = Path.Combine(cacheDirectory, $"{Path.GetFileNameWithoutExtension(path)}-{info.Length}-{info.LastWriteTimeUtc.Ticks}");
        if (File.Exists(cached))
            return cached;
        AtomicFile.Write(cached, target =>
        {
            using var source = OpenMaybeGzip(path);
            source.CopyTo(target);
        });
        return cached;
    }
}
