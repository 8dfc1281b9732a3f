using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Teachers;

/// <summary>Settings of a linear probe.</summary>
public sealed record LinearProbeOptions(int Epochs = 5, int BatchSize = 128, double LearningRate = 1e-3, double WeightDecay = 1e-4, int Seed = 0);

/// <summary>Accuracy of a fitted probe.</summary>
public sealed record LinearProbeResult(double TrainTop1, double? ValidationTop1);

/// <summary>
/// Fits a teacher's classifier on its frozen features, for a pretrained teacher whose head does not match the
/// dataset's classes: without it, logit KD would distil a random head.
/// </summary>
public static class LinearProbe
{
    /// <param name="prepare">Turns a source batch (N, C, H, W) in [0, 1] into model input on the device (resize, channels, normalisation).</param>
    public static LinearProbeResult Fit(VisionModel teacher, IBatchSource train, IBatchSource? validation, Func<Tensor, Tensor> prepare,
        LinearProbeOptions options, IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        if (train.Count == 0)
            throw new ArgumentException("The linear probe needs training data; the source is empty.", nameof(train));
        foreach (var parameter in teacher.parameters())
            parameter.requires_grad = false;
        var head = teacher.Classifier.parameters().ToList();
        // The head being fitted is untrained (skipped on import, or random): start it at zero so the probe does not
        // first have to unlearn arbitrary weights, and so the result does not depend on the head's initialisation.
        using (no_grad())
            foreach (var parameter in head)
                parameter.zero_();
        foreach (var parameter in head)
            parameter.requires_grad = true;
        teacher.eval();
        using var optimizer = optim.AdamW(head, options.LearningRate, weight_decay: options.WeightDecay);
        var trainTop1 = 0.0;
        for (var epoch = 0; epoch < options.Epochs; epoch++)
        {
            using var metrics = new ClassificationMetrics();
            foreach (var batch in train.ReadBatches(new BatchRequest(epoch, options.BatchSize, true, options.Seed, false), cancellationToken))
            {
                using var scope = NewDisposeScope();
                using (batch)
                {
                    var features = Features(teacher, prepare(batch.Images));
                    var labels = batch.Labels.to(features.device);
                    var logits = teacher.Classifier.forward(features);
                    var loss = nn.functional.cross_entropy(logits, labels);
                    optimizer.zero_grad();
                    loss.backward();
                    optimizer.step();
                    metrics.Add(loss, logits, labels);
                }
            }
            trainTop1 = metrics.Result().Top1;
            progress?.Report($"linear probe epoch {epoch + 1}/{options.Epochs}: train top-1 {trainTop1:P1}");
        }
        foreach (var parameter in head)
            parameter.requires_grad = false;
        var validationTop1 = validation is null ? (double?)null : Evaluate(teacher, validation, prepare, options.BatchSize, cancellationToken);
        return new LinearProbeResult(trainTop1, validationTop1);
    }

    /// <summary>Top-1 accuracy of a model on a source, in eval mode and without gradients.</summary>
    public static double Evaluate(VisionModel model, IBatchSource source, Func<Tensor, Tensor> prepare, int batchSize, CancellationToken cancellationToken = default)
    {
        model.eval();
        using var noGrad = no_grad();
        using var metrics = new ClassificationMetrics();
        foreach (var batch in source.ReadBatches(new BatchRequest(0, batchSize, false, 0, false), cancellationToken))
        {
            using var scope = NewDisposeScope();
            using (batch)
            {
                var logits = model.forward(prepare(batch.Images));
                var labels = batch.Labels.to(logits.device);
                metrics.Add(nn.functional.cross_entropy(logits, labels), logits, labels);
            }
        }
        return metrics.Result().Top1;
    }

    static Tensor Features(VisionModel teacher, Tensor images)
    {
        using var noGrad = no_grad();
        return teacher.ForwardStages(images).PreLogits.detach();
    }
}
