using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Teachers;

/// <summary>Settings of a linear probe.</summary>
/// <param name="Epochs">Passes over the cached features (cheap: the backbone runs once per image, not once per epoch).</param>
/// <param name="BatchSize">Images per backbone forward while the features are extracted, and per probe step.</param>
/// <param name="LearningRate">AdamW's learning rate on the standardised features.</param>
/// <param name="WeightDecay">AdamW's weight decay, the probe's only regularisation.</param>
/// <param name="Seed">Order of the probe's mini-batches.</param>
public sealed record LinearProbeOptions(int Epochs = 100, int BatchSize = 128, double LearningRate = 1e-2, double WeightDecay = 1e-4, int Seed = 0);

/// <summary>Accuracy of a fitted probe.</summary>
public sealed record LinearProbeResult(double TrainTop1, double? ValidationTop1);

/// <summary>
/// Fits a teacher's classifier on its frozen features, for a pretrained teacher whose head does not match the
/// dataset's classes: without it, logit KD would distil a random head.
/// </summary>
/// <remarks>
/// The backbone runs once per image: its pooled features are extracted, kept, and the head is fitted on them for
/// many epochs. On a CPU the backbone is nearly all the cost (ResNet-18 at 64 px: about 0.15 GFLOP an image, the head
/// 5 kFLOP), so a hundred probe epochs cost what one did when each epoch ran the backbone. The features are
/// standardised per dimension while fitting (pooled ReLU features differ in scale by orders of magnitude, which
/// slows a single learning rate), and the standardisation is folded into the head afterwards, so the teacher's
/// <see cref="VisionModel.Classifier"/> takes the raw features as before.
/// </remarks>
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
        teacher.eval();
        using var scope = NewDisposeScope();
        var (features, labels) = ExtractFeatures(teacher, train, prepare, options.BatchSize, progress, "training", cancellationToken);
        var mean = features.mean([0], keepdim: true);
        var std = features.std(0, keepdim: true) + 1e-6;
        var standardised = (features - mean) / std;

        // A head of its own on the standardised features, started at zero: the probe then does not depend on the
        // teacher head's initialisation, nor first unlearn arbitrary weights.
        var weight = new TorchSharp.Modules.Parameter(zeros(teacher.Options.NumClasses, teacher.NumFeatures, device: features.device));
        var bias = new TorchSharp.Modules.Parameter(zeros(teacher.Options.NumClasses, device: features.device));
        using var optimizer = optim.AdamW([weight, bias], options.LearningRate, weight_decay: options.WeightDecay);
        var generator = new Generator((ulong)options.Seed);
        for (var epoch = 0; epoch < options.Epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var epochScope = NewDisposeScope();
            var order = randperm(standardised.shape[0], generator: generator).to(features.device);
            foreach (var batch in order.split(options.BatchSize))
            {
                using var stepScope = NewDisposeScope();
                var logits = nn.functional.linear(standardised.index_select(0, batch), weight, bias);
                var loss = nn.functional.cross_entropy(logits, labels.index_select(0, batch));
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
            }
        }
        FoldIntoHead(teacher, weight.detach(), bias.detach(), mean, std);

        var trainTop1 = Top1(teacher.Classifier.forward(features), labels);
        progress?.Report($"linear probe: {options.Epochs} epochs on {features.shape[0]} images' features, train top-1 {trainTop1:P1}");
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

    /// <summary>The backbone's pooled features of every image of <paramref name="source"/>, and the labels, in the
    /// outer dispose scope.</summary>
    static (Tensor Features, Tensor Labels) ExtractFeatures(VisionModel teacher, IBatchSource source, Func<Tensor, Tensor> prepare,
        int batchSize, IProgress<string>? progress, string name, CancellationToken cancellationToken)
    {
        var features = new List<Tensor>();
        var labels = new List<Tensor>();
        using (no_grad())
        {
            foreach (var batch in source.ReadBatches(new BatchRequest(0, batchSize, false, 0, false), cancellationToken))
            {
                using var scope = NewDisposeScope();
                using (batch)
                {
                    var pooled = teacher.ForwardStages(prepare(batch.Images)).PreLogits;
                    features.Add(pooled.detach().to(float32).MoveToOuterDisposeScope());
                    labels.Add(batch.Labels.to(pooled.device).MoveToOuterDisposeScope());
                }
            }
        }
        progress?.Report($"linear probe: features of {source.Count} {name} images extracted");
        return (cat(features, 0), cat(labels, 0));
    }

    /// <summary>Writes the probe into the teacher's head: W·(x − μ)/σ + b = (W/σ)·x + (b − (W/σ)·μ).</summary>
    static void FoldIntoHead(VisionModel teacher, Tensor weight, Tensor bias, Tensor mean, Tensor std)
    {
        var head = teacher.Classifier.parameters().ToList();
        var headWeight = head.Single(p => p.dim() == 2);
        var headBias = head.Single(p => p.dim() == 1);
        using var noGrad = no_grad();
        var scaled = weight / std;
        headWeight.copy_(scaled.to(headWeight.dtype));
        headBias.copy_((bias - scaled.matmul(mean.squeeze(0))).to(headBias.dtype));
    }

    static double Top1(Tensor logits, Tensor labels)
    {
        using var noGrad = no_grad();
        return logits.argmax(1).eq(labels).to(float64).mean().item<double>();
    }
}
