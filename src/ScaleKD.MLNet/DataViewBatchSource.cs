using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Data;
using static TorchSharp.torch;

namespace ScaleKD.MLNet;

/// <summary>
/// An <see cref="IDataView"/> as an <see cref="IBatchSource"/>: streams rows (each image decoded once per visit), resizes
/// each to a square of <c>storageSize</c> (shorter side, then centre crop) so batches stack, and shuffles through a
/// bounded pool of decoded images, seeded by (seed, epoch). Rows with a missing label (key 0) are skipped.
/// </summary>
/// <remarks>ML.NET's own ShuffleRows cannot be used: it caches rows, and drops columns of uncacheable types such as
/// images. The pool holds 8-bit images, so its memory stays small (256 × 3 × 224² bytes ≈ 39 MB).</remarks>
sealed class DataViewBatchSource : IBatchSource
{
    const int ShufflePoolSize = 256;

    /// <summary>A text column that names where each row's image came from (ML.NET's image loaders read it): when present,
    /// an image that cannot be decoded is reported by it as well as by its row.</summary>
    public const string SourceColumnName = "ImagePath";
    readonly IDataView _data;
    readonly ImageColumn _image;
    readonly string _labelColumn;
    readonly int _storageSize;
    readonly bool _skipBadImages;

    public DataViewBatchSource(IDataView data, ImageColumn image, string labelColumn, IReadOnlyList<string> classNames, int storageSize, bool skipBadImages)
    {
        _data = data;
        _image = image;
        _labelColumn = labelColumn;
        _storageSize = storageSize;
        _skipBadImages = skipBadImages;
        ClassNames = classNames;
        Count = CountLabelledRows(data, labelColumn);
    }

    public int ClassCount => ClassNames.Count;
    public long Count { get; }
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>Rows skipped because their image could not be decoded (with <c>skipBadImages</c>), over all passes.</summary>
    public long SkippedImages => Interlocked.Read(ref _skipped);
    long _skipped;

    public IEnumerable<LabeledBatch> ReadBatches(BatchRequest request, CancellationToken cancellationToken = default)
    {
        var images = new List<Tensor>(request.BatchSize);
        var labels = new List<long>(request.BatchSize);
        try
        {
            var examples = Examples(cancellationToken);
            foreach (var (image, label) in request.Shuffle ? PoolShuffle(examples, new Random(IndexOrder.SeedFor(request.Seed, request.Epoch))) : examples)
            {
                images.Add(image);
                labels.Add(label);
                if (images.Count == request.BatchSize)
                    yield return Stack(images, labels);
            }
            if (images.Count > 0 && !request.DropLast)
                yield return Stack(images, labels);
        }
        finally
        {
            foreach (var leftover in images)
                leftover.Dispose();
        }
    }

    /// <summary>Each labelled row's image as a square 8-bit (3, S, S) tensor, in cursor order.</summary>
    IEnumerable<(Tensor Image, long Label)> Examples(CancellationToken cancellationToken)
    {
        var source = _data.Schema.GetColumnOrNull(SourceColumnName) is { Type: TextDataViewType } text ? text : (DataViewSchema.Column?)null;
        var columns = new[] { _data.Schema[_image.Name], _data.Schema[_labelColumn] }.Concat(source is { } c ? [c] : []).ToArray();
        using var cursor = _data.GetRowCursor(columns);
        var readImage = _image.Reader(cursor);
        var sourceGetter = source is { } s ? cursor.GetGetter<ReadOnlyMemory<char>>(s) : null;
        ReadOnlyMemory<char> sourcePath = default;
        string SourcePath(ref ReadOnlyMemory<char> value)
        {
            sourceGetter!(ref value);
            return value.ToString();
        }
        var labelGetter = cursor.GetGetter<uint>(_data.Schema[_labelColumn]);
        uint key = 0;
        while (cursor.MoveNext())
        {
            cancellationToken.ThrowIfCancellationRequested();
            labelGetter(ref key);
            if (key == 0)
                continue;
            Tensor image;
            try
            {
                image = readImage(cursor.Position);
            }
            catch (InvalidDataException) when (_skipBadImages)
            {
                Interlocked.Increment(ref _skipped);
                continue;
            }
            catch (InvalidDataException e) when (sourceGetter is not null && SourcePath(ref sourcePath) is { Length: > 0 } path)
            {
                // The row number alone points nowhere once rows are shuffled or filtered; the file does.
                throw new InvalidDataException($"{path}: {e.Message}", e);
            }
            using (image)
                yield return (Square(image), key - 1);
        }
    }

    /// <summary>A streaming shuffle: a random member of a full pool leaves as each new example enters.</summary>
    static IEnumerable<(Tensor Image, long Label)> PoolShuffle(IEnumerable<(Tensor Image, long Label)> examples, Random random)
    {
        var pool = new List<(Tensor Image, long Label)>(ShufflePoolSize);
        try
        {
            foreach (var example in examples)
            {
                if (pool.Count < ShufflePoolSize)
                {
                    pool.Add(example);
                    continue;
                }
                var leaving = random.Next(pool.Count);
                var chosen = pool[leaving];
                pool[leaving] = example;
                yield return chosen;
            }
            random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pool));
            while (pool.Count > 0)
            {
                var last = pool[^1];
                pool.RemoveAt(pool.Count - 1);
                yield return last;
            }
        }
        finally
        {
            foreach (var (image, _) in pool)
                image.Dispose();
        }
    }

    /// <summary>Resized and centre-cropped to S × S, stored as 8-bit to keep the shuffle pool small.</summary>
    Tensor Square(Tensor image)
    {
        using var scope = NewDisposeScope();
        var resized = ImageResize.ResizeAndCenterCrop(image.unsqueeze(0), _storageSize, _storageSize, ResizeInterpolation.Bilinear);
        return resized.squeeze(0).mul(255).round_().clamp_(0, 255).to(ScalarType.Byte).DetachFromDisposeScope();
    }

    static LabeledBatch Stack(List<Tensor> images, List<long> labels)
    {
        using var bytes = stack(images);
        var batch = new LabeledBatch(bytes.to(float32).div_(255f), tensor(labels.ToArray()));
        foreach (var image in images)
            image.Dispose();
        images.Clear();
        labels.Clear();
        return batch;
    }

    static long CountLabelledRows(IDataView data, string labelColumn)
    {
        using var cursor = data.GetRowCursor([data.Schema[labelColumn]]);
        var getter = cursor.GetGetter<uint>(data.Schema[labelColumn]);
        uint key = 0;
        long count = 0;
        while (cursor.MoveNext())
        {
            getter(ref key);
            if (key != 0)
                count++;
        }
        return count;
    }
}
