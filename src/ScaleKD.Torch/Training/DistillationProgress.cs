namespace ScaleKD.Torch.Training;

/// <summary>Metrics of one finished epoch.</summary>
/// <param name="Epoch">1-based epoch number.</param>
/// <param name="TrainLoss">Mean total loss over the epoch's steps.</param>
/// <param name="TrainTerms">Mean of each loss term.</param>
/// <param name="TrainTop1">Training top-1 accuracy (on augmented images).</param>
/// <param name="ValidationLoss">Validation cross-entropy, when there is validation data.</param>
/// <param name="ValidationTop1">Validation top-1 accuracy (fraction).</param>
/// <param name="ValidationTop5">Validation top-5 accuracy (fraction).</param>
/// <param name="LearningRate">The learning rate at the epoch's last step.</param>
/// <param name="Seconds">Wall time of the epoch, validation included.</param>
/// <param name="ImagesPerSecond">Training throughput.</param>
public sealed record EpochMetrics(
    int Epoch, double TrainLoss, IReadOnlyDictionary<string, double> TrainTerms, double TrainTop1,
    double? ValidationLoss, double? ValidationTop1, double? ValidationTop5, double LearningRate, double Seconds, double ImagesPerSecond);

/// <summary>A progress report: every few steps while training, and once per finished epoch.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Epochs">Epochs planned.</param>
/// <param name="Step">1-based step within the epoch.</param>
/// <param name="StepsPerEpoch">Steps in an epoch.</param>
/// <param name="Losses">The mean of each loss term (and <c>total</c>) since the previous report.</param>
/// <param name="LearningRate">The current learning rate.</param>
/// <param name="ImagesPerSecond">Throughput since the previous report.</param>
/// <param name="Remaining">Estimated time left for the whole run.</param>
/// <param name="Finished">The epoch's metrics, on the report that ends an epoch; null otherwise.</param>
public sealed record DistillationProgress(
    int Epoch, int Epochs, long Step, long StepsPerEpoch, IReadOnlyDictionary<string, double> Losses,
    double LearningRate, double ImagesPerSecond, TimeSpan Remaining, EpochMetrics? Finished);
