namespace ScaleKD.Torch.Training.Data;

/// <summary>What one pass over a source should deliver.</summary>
/// <param name="Epoch">0-based epoch; with <paramref name="Seed"/> it fixes the order, so a resumed run sees the same data.</param>
/// <param name="BatchSize">Examples per batch.</param>
/// <param name="Shuffle">Visit examples in a seeded random order.</param>
/// <param name="Seed">Seed of the order.</param>
/// <param name="DropLast">Skip a final, smaller batch (training); keep it (evaluation).</param>
public sealed record BatchRequest(int Epoch, int BatchSize, bool Shuffle, int Seed, bool DropLast);

/// <summary>
/// A labelled image collection the trainer streams batches from: ML.NET data views, image folders, IDX files and
/// tests all implement it. Images are decoded batch by batch, never all held in memory.
/// </summary>
public interface IBatchSource
{
    /// <summary>Number of classes; labels are 0 … ClassCount − 1.</summary>
    int ClassCount { get; }

    /// <summary>Examples per full pass.</summary>
    long Count { get; }

    /// <summary>Class names by label index, for reports.</summary>
    IReadOnlyList<string> ClassNames { get; }

    /// <summary>One pass over the data, in the order <paramref name="request"/> fixes.</summary>
    IEnumerable<LabeledBatch> ReadBatches(BatchRequest request, CancellationToken cancellationToken = default);
}
