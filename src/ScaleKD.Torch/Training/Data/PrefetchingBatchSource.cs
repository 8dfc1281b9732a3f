using System.Collections.Concurrent;

namespace ScaleKD.Torch.Training.Data;

/// <summary>
/// Reads (and optionally transforms) batches on a background thread, a few ahead of the consumer, so decoding and
/// augmentation of the next batch overlap with compute on the current one.
/// </summary>
public static class PrefetchingBatchSource
{
    /// <summary>Enumerates <paramref name="batches"/> on a background thread, keeping up to <paramref name="depth"/>
    /// ready. Exceptions of the producer surface on the consumer's thread; batches left unread are disposed.</summary>
    /// <param name="transform">Work to do on the background thread for each batch (e.g. augmentation); it owns and
    /// must dispose its input if it returns a new batch.</param>
    public static IEnumerable<LabeledBatch> Prefetch(IEnumerable<LabeledBatch> batches, int depth, CancellationToken cancellationToken,
        Func<LabeledBatch, LabeledBatch>? transform = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        using var queue = new BlockingCollection<LabeledBatch>(depth);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Exception? failure = null;
        var producer = Task.Factory.StartNew(() =>
        {
            try
            {
                foreach (var batch in batches)
                {
                    var ready = transform is null ? batch : transform(batch);
                    try
                    {
                        queue.Add(ready, stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        ready.Dispose();
                        return;
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                failure = e;
            }
            finally
            {
                queue.CompleteAdding();
            }
        }, TaskCreationOptions.LongRunning);

        try
        {
            foreach (var batch in queue.GetConsumingEnumerable(cancellationToken))
                yield return batch;
            if (failure is not null)
                throw new InvalidOperationException($"Reading the training data failed: {failure.Message}", failure);
        }
        finally
        {
            stop.Cancel();
            producer.Wait(TimeSpan.FromMinutes(1));
            while (queue.TryTake(out var leftover))
                leftover.Dispose();
        }
    }
}
