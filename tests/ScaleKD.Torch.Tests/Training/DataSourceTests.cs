using System.IO.Compression;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

[Trait("Category", "Training")]
public sealed class DataSourceTests : IDisposable
{
    readonly string _work = Directory.CreateTempSubdirectory("scalekd-data-").FullName;

    public DataSourceTests() => TorchBackend.Initialize();

    [Fact]
    public void FashionMnistFromDebianReadsLazilyInSeededOrder()
    {
        var train = FashionMnist.Train();
        Assert.Equal(60_000, train.Count);
        Assert.Equal(10, train.ClassCount);
        Assert.Equal((28, 28), train.ImageSize);
        Assert.Equal(9, train.Labels[0]); // the first training image is an ankle boot

        var subset = train.TakeStratified(200, seed: 4);
        Assert.Equal(200, subset.Count);
        Assert.All(subset.Labels.GroupBy(l => l), g => Assert.Equal(20, g.Count()));

        var request = new BatchRequest(Epoch: 3, BatchSize: 64, Shuffle: true, Seed: 9, DropLast: true);
        var first = subset.ReadBatches(request).ToList();
        var again = subset.ReadBatches(request).ToList();
        var nextEpoch = subset.ReadBatches(request with { Epoch = 4 }).ToList();
        Assert.Equal(3, first.Count); // 200 / 64 with the last partial batch dropped
        Assert.Equal(new long[] { 64, 1, 28, 28 }, first[0].Images.shape);
        Assert.InRange(first[0].Images.max().item<float>(), 0.5f, 1f);
        Assert.True(first[0].Labels.eq(again[0].Labels).all().item<bool>());
        Assert.False(first[0].Labels.eq(nextEpoch[0].Labels).all().item<bool>() && first[0].Images.eq(nextEpoch[0].Images).all().item<bool>());
        foreach (var batch in first.Concat(again).Concat(nextEpoch))
            batch.Dispose();
    }

    [Fact]
    public void EvaluationKeepsTheLastPartialBatchInSourceOrder()
    {
        var test = FashionMnist.Test().Take(70);
        var batches = test.ReadBatches(new BatchRequest(0, 32, Shuffle: false, Seed: 0, DropLast: false)).ToList();
        Assert.Equal(new long[] { 32, 32, 6 }, batches.Select(b => b.Count));
        Assert.Equal(test.Labels.Take(32).Select(l => (long)l), batches[0].Labels.data<long>().ToArray());
        batches.ForEach(b => b.Dispose());
    }

    [Fact]
    public void CorruptIdxFilesAreNamedInTheError()
    {
        var labels = Path.Combine(_work, "labels-idx1-ubyte.gz");
        var images = Path.Combine(_work, "images-idx3-ubyte.gz");
        WriteGzip(labels, [0, 0, 8, 1, 0, 0, 0, 2, 1, 12]);                     // label 12 is out of range
        WriteGzip(images, [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3]); // 2 images of 2×2 need 8 bytes
        var truncated = Assert.Throws<InvalidDataException>(() => IdxImageSource.Open(images, labels, ["a", "b", "c"]));
        Assert.Contains(images, truncated.Message);
        WriteGzip(images, [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8]);
        var outOfRange = Assert.Throws<InvalidDataException>(() => IdxImageSource.Open(images, labels, ["a", "b", "c"]));
        Assert.Contains(labels, outOfRange.Message);
        Assert.Contains("label 12", outOfRange.Message);
        var missing = Assert.Throws<FileNotFoundException>(() => IdxImageSource.Open(Path.Combine(_work, "none.gz"), labels, ["a"]));
        Assert.Contains("none.gz", missing.Message);
    }

    /// <summary>Two test fixtures of one process once inflated Fashion-MNIST at the same moment on a fresh machine, and
    /// the second failed on the first one's temporary file (both were named after the process id).</summary>
    [Fact]
    public void ThreadsOfOneProcessMayInflateTheSameGzipFileAtOnce()
    {
        var name = $"race-{Guid.NewGuid():N}";
        var labels = Path.Combine(_work, $"{name}-labels-idx1-ubyte.gz");
        var images = Path.Combine(_work, $"{name}-images-idx3-ubyte.gz");
        const int count = 2000;
        WriteGzip(labels, [0, 0, 8, 1, 0, 0, (count >> 8) & 0xff, count & 0xff, .. new byte[count]]);
        var pixels = new byte[count * 28 * 28];
        new Random(1).NextBytes(pixels);
        WriteGzip(images, [0, 0, 8, 3, 0, 0, (count >> 8) & 0xff, count & 0xff, 0, 0, 0, 28, 0, 0, 0, 28, .. pixels]);
        try
        {
            using var start = new Barrier(8);
            var opened = Enumerable.Range(0, 8)
                .Select(_ => Task.Factory.StartNew(() => { start.SignalAndWait(); return IdxImageSource.Open(images, labels, ["a"]).Count; },
                    TaskCreationOptions.LongRunning))
                .ToArray();
            Assert.All(opened, task => Assert.Equal(count, task.GetAwaiter().GetResult()));
        }
        finally
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(Path.GetTempPath(), "scalekd-idx-cache"), $"{name}-*"))
                File.Delete(file);
        }
    }

    [Fact]
    public void PrefetchingSurfacesProducerErrorsAndDisposesUnreadBatches()
    {
        var made = new List<LabeledBatch>();
        IEnumerable<LabeledBatch> Failing()
        {
            for (var i = 0; i < 3; i++)
            {
                var batch = new LabeledBatch(zeros(1, 1, 2, 2), zeros(1, dtype: int64));
                made.Add(batch);
                yield return batch;
            }
            throw new IOException("disk went away");
        }
        var error = Assert.Throws<InvalidOperationException>(() =>
        {
            foreach (var batch in PrefetchingBatchSource.Prefetch(Failing(), depth: 2, CancellationToken.None))
                batch.Dispose();
        });
        Assert.Contains("disk went away", error.Message);

        made.Clear();
        IEnumerable<LabeledBatch> Endless()
        {
            while (true)
            {
                var batch = new LabeledBatch(zeros(1, 1, 2, 2), zeros(1, dtype: int64));
                lock (made)
                    made.Add(batch);
                yield return batch;
            }
        }
        foreach (var batch in PrefetchingBatchSource.Prefetch(Endless(), depth: 2, CancellationToken.None).Take(1))
            batch.Dispose();
        lock (made)
            Assert.All(made, b => Assert.True(b.Images.IsInvalid, "every batch read ahead must be disposed"));
    }

    static void WriteGzip(string path, byte[] bytes)
    {
        using var gzip = new GZipStream(File.Create(path), CompressionLevel.Fastest);
        gzip.Write(bytes);
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}
