using static TorchSharp.torch;

namespace ScaleKD.Torch.Training;

/// <summary>Mean loss, top-1 and top-5 accuracy (fractions) over a set of examples.</summary>
public sealed record ClassificationResult(double Loss, double Top1, double Top5);

/// <summary>Accumulates loss, top-1 and top-5 accuracy over batches, reading back to the host once per call to
/// <see cref="Result"/> rather than per batch.</summary>
public sealed class ClassificationMetrics : IDisposable
{
    Tensor? _lossSum;
    Tensor? _top1;
    Tensor? _top5;
    long _count;

    /// <summary>Adds one batch: the mean loss of the batch and its logits and labels.</summary>
    public void Add(Tensor meanLoss, Tensor logits, Tensor labels)
    {
        using var noGrad = no_grad();
        var n = labels.shape[0];
        var k = (int)Math.Min(5, logits.shape[1]);
        var (values, topk) = logits.topk(k, dim: 1);
        values.Dispose();
        using var hits = topk.eq(labels.unsqueeze(1));
        Accumulate(ref _lossSum, meanLoss.detach() * n);
        Accumulate(ref _top1, hits[.., 0].sum());
        Accumulate(ref _top5, hits.any(1).sum());
        topk.Dispose();
        _count += n;
    }

    /// <summary>Mean loss, top-1 and top-5 accuracy (fractions) over everything added.</summary>
    public ClassificationResult Result()
    {
        if (_count == 0)
            throw new InvalidOperationException("No batches were evaluated.");
        return new ClassificationResult(_lossSum!.item<float>() / _count, _top1!.item<long>() / (double)_count, _top5!.item<long>() / (double)_count);
    }

    /// <summary>Examples added so far.</summary>
    public long Count => _count;

    static void Accumulate(ref Tensor? sum, Tensor value)
    {
        var detached = value.detach();
        if (sum is null)
        {
            sum = detached.clone().DetachFromDisposeScope();
            return;
        }
        sum.add_(detached);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _lossSum?.Dispose();
        _top1?.Dispose();
        _top5?.Dispose();
    }
}
