namespace ScaleKD.Torch.Training.Data;

/// <summary>The visiting order of a pass: identity, or a Fisher–Yates shuffle seeded by (seed, epoch).</summary>
public static class IndexOrder
{
    /// <summary>Example indices 0 … count − 1 in the order of <paramref name="request"/>.</summary>
    public static int[] For(int count, BatchRequest request)
    {
        var order = Enumerable.Range(0, count).ToArray();
        if (request.Shuffle)
            new Random(SeedFor(request.Seed, request.Epoch)).Shuffle(order);
        return order;
    }

    /// <summary>A seed for (seed, epoch) that is the same in every process (HashCode.Combine is randomised per process).</summary>
    public static int SeedFor(int seed, int epoch) => unchecked((seed * 1_000_003) ^ (epoch * 7_919) ^ 0x5CA1E);

    /// <summary>Splits an order into batch-sized chunks, honouring <see cref="BatchRequest.DropLast"/>.</summary>
    public static IEnumerable<ArraySegment<int>> Chunks(int[] order, BatchRequest request)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(request.BatchSize, 1, nameof(request.BatchSize));
        for (var start = 0; start < order.Length; start += request.BatchSize)
        {
            var length = Math.Min(request.BatchSize, order.Length - start);
            if (length < request.BatchSize && request.DropLast)
                yield break;
            yield return new ArraySegment<int>(order, start, length);
        }
    }
}
