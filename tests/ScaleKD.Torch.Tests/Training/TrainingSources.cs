using ScaleKD.Torch.Training.Data;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>Small Fashion-MNIST subsets (from Debian's dataset-fashion-mnist) and sources that misbehave on purpose.</summary>
static class TrainingSources
{
    public static IdxImageSource Train(int count) => FashionMnist.Train().TakeStratified(count, seed: 11);

    public static IdxImageSource Validation(int count) => FashionMnist.Test().TakeStratified(count, seed: 12);

    /// <summary>Passes batches through, replacing one batch's images with NaN, or its labels, or its shape.</summary>
    public sealed class Tampered(IBatchSource inner, int epoch, int batch, Func<LabeledBatch, LabeledBatch> tamper) : IBatchSource
    {
        public int ClassCount => inner.ClassCount;
        public long Count => inner.Count;
        public IReadOnlyList<string> ClassNames => inner.ClassNames;

        public IEnumerable<LabeledBatch> ReadBatches(BatchRequest request, CancellationToken cancellationToken = default)
        {
            var index = 0;
            foreach (var b in inner.ReadBatches(request, cancellationToken))
                yield return request.Epoch == epoch && index++ == batch ? tamper(b) : b;
        }
    }

    public static LabeledBatch WithNaN(LabeledBatch b)
    {
        b.Images.fill_(float.NaN);
        return b;
    }

    public static LabeledBatch WithLabel(LabeledBatch b, long label)
    {
        b.Labels[0] = label;
        return b;
    }

    public static LabeledBatch WithTwoChannels(LabeledBatch b)
    {
        var images = cat([b.Images, b.Images], 1);
        b.Dispose();
        return new LabeledBatch(images, b.Labels.IsInvalid ? zeros(images.shape[0], dtype: int64) : b.Labels);
    }

    /// <summary>A source with no examples.</summary>
    public sealed class Empty : IBatchSource
    {
        public int ClassCount => 10;
        public long Count => 0;
        public IReadOnlyList<string> ClassNames => FashionMnist.ClassNames;
        public IEnumerable<LabeledBatch> ReadBatches(BatchRequest request, CancellationToken cancellationToken = default) => [];
    }
}
