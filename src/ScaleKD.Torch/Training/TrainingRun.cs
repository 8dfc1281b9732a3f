using System.Diagnostics;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Data;
using ScaleKD.Torch.Training.Optimization;
using ScaleKD.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training;

/// <summary>
/// One <see cref="DistillationTrainer.Fit"/> in progress: the models, the step, the EMA and everything a checkpoint
/// records (history, best epoch, best weights, the schedule's position). <see cref="RunEpoch"/> trains, validates and
/// checkpoints one epoch; <see cref="Finish"/> chooses the weights to return.
/// </summary>
sealed class TrainingRun : IDisposable
{
    readonly DistillationSpec _spec;
    readonly VisionModel _student;
    readonly DistillationObjective _objective;
    readonly ITrainingStep _step;
    readonly ModelEma? _ema;
    readonly Device _device;
    readonly long _stepsPerEpoch;
    readonly TrainAugmentation _trainTransform;
    readonly EvalTransform _evalTransform;
    readonly TrainingCheckpoint _record;
    readonly string? _checkpointPath;
    readonly ProgressReporter _reporter;
    readonly StopSignal _stop;
    readonly LossTracker _tracker = new();
    readonly List<EpochMetrics> _history;
    readonly EarlyStopping _stopping;
    byte[]? _best;
    bool _bestIsEma;
    long _globalStep;

    /// <param name="record">The run's record: a new one, or the one the checkpoint in <paramref name="resume"/> holds.</param>
    /// <param name="resume">The checkpoint to continue from (its weights already restored), or null.</param>
    public TrainingRun(DistillationSpec spec, VisionModel student, DistillationObjective objective, ITrainingStep step, ModelEma? ema, Device device,
        long stepsPerEpoch, TrainingCheckpoint record, ResumeState? resume, string? checkpointPath, ProgressReporter reporter, StopSignal stop)
    {
        _spec = spec;
        _student = student;
        _objective = objective;
        _step = step;
        _ema = ema;
        _device = device;
        _stepsPerEpoch = stepsPerEpoch;
        _record = record;
        _checkpointPath = checkpointPath;
        _reporter = reporter;
        _stop = stop;
        var augmentation = spec.AugmentationFor(student.Options.ImageSize);
        augmentation.Validate();
        _trainTransform = new TrainAugmentation(augmentation);
        _evalTransform = new EvalTransform(augmentation);
        _globalStep = resume?.RestoreOptimizer(step.Optimizer, ema) ?? 0;
        _history = [.. record.History];
        _stopping = new EarlyStopping(spec.Monitor, spec.EarlyStoppingPatience);
        _stopping.Restore(record.Best, record.BestEpoch);
        _best = resume?.Best;
        _bestIsEma = record.BestIsEma;
    }

    /// <summary>The first epoch to run (0-based): 0, or the epochs a resumed checkpoint had finished.</summary>
    public int FirstEpoch => _record.CompletedEpochs;

    /// <summary>Trains one epoch, then validates it, keeps the best weights and writes the checkpoint.</summary>
    /// <returns>Why the run should stop after this epoch, or <see cref="StopReason.Completed"/> to go on.</returns>
    public StopReason RunEpoch(int epoch, IBatchSource train, IBatchSource? validation)
    {
        manual_seed(IndexOrder.SeedFor(_spec.Seed, epoch)); // dropout and stochastic depth repeat per epoch, so resume is exact
        _student.train();
        _objective.train();
        var clock = Stopwatch.StartNew();
        using var trainMetrics = new ClassificationMetrics();
        if (!TrainSteps(epoch, train, trainMetrics))
        {
            _tracker.ReadEpoch(epoch + 1); // still refuse to hand back a model whose loss went NaN
            return StopReason.Cancelled;
        }
        FinishEpoch(epoch, validation, trainMetrics.Result().Top1, clock);
        return _stopping.ShouldStop(epoch + 1) ? StopReason.EarlyStopped : StopReason.Completed;
    }

    /// <summary>Puts the weights to return into the student: the best epoch's, else the EMA's, else the last.</summary>
    public DistillationResult Finish(StopReason stopReason)
    {
        int? returnedEpoch = null;
        var returnedEma = false;
        if (_spec.RestoreBestWeights && _best is not null)
        {
            SafetensorsWeights.LoadBytes(_student, _best, "the best epoch's weights");
            returnedEpoch = _stopping.BestEpoch;
            returnedEma = _bestIsEma;
        }
        else if (_ema is not null)
        {
            SafetensorsWeights.LoadBytes(_student, SafetensorsWeights.ToBytes(_ema.Module), "the EMA weights");
            returnedEma = true;
        }
        _student.eval();
        return new DistillationResult(_student, _history, stopReason, returnedEpoch, returnedEma, _record.CompletedEpochs);
    }

    /// <summary>The epoch's steps; false when a stop was requested before the epoch ended.</summary>
    bool TrainSteps(int epoch, IBatchSource train, ClassificationMetrics metrics)
    {
        _reporter.StartEpoch();
        long step = 0;
        try
        {
            foreach (var batch in AugmentedBatches(train, epoch))
            {
                var images = batch.Count;
                using (batch)
                using (NewDisposeScope())
                    RunStep(batch, metrics);
                _globalStep++;
                step++;
                _reporter.StepDone(epoch, step, images, _tracker, _step.LearningRate);
                if (_stop.IsRequested)
                    return false;
            }
        }
        catch (OperationCanceledException) when (_stop.IsRequested)
        {
        }
        return !_stop.IsRequested;
    }

    void RunStep(LabeledBatch batch, ClassificationMetrics metrics)
    {
        var images = batch.Images.to(_device);
        var labels = batch.Labels.to(_device);
        var loss = _step.Run(images, labels, _globalStep);
        _ema?.Update(_student);
        _tracker.Add(loss.Terms, loss.Total, _globalStep);
        metrics.Add(loss.Total, loss.StudentLogits, labels);
    }

    /// <summary>The epoch's batches in their seeded order, checked and augmented on the prefetch thread.</summary>
    IEnumerable<LabeledBatch> AugmentedBatches(IBatchSource train, int epoch)
    {
        var request = new BatchRequest(epoch, _spec.BatchSize, Shuffle: true, _spec.Seed, DropLast: true);
        var batchIndex = 0L;
        return PrefetchingBatchSource.Prefetch(train.ReadBatches(request, _stop.Token), _spec.PrefetchDepth, _stop.Token,
            batch => Augment(batch, train.ClassCount, epoch, batchIndex++));
    }

    /// <summary>Checks a source batch and augments it; randomness comes from (seed, epoch, batch).</summary>
    LabeledBatch Augment(LabeledBatch batch, int classCount, int epoch, long batchIndex)
    {
        using (batch)
        {
            var images = batch.Images;
            if (images.dim() != 4 || images.shape[1] is not (1 or 3))
                throw new InvalidDataException(
                    $"Training batch {batchIndex + 1} of epoch {epoch + 1} has images shaped ({string.Join(", ", images.shape)}); expected (N, 1 or 3, H, W).");
            var (min, max) = (batch.Labels.min().item<long>(), batch.Labels.max().item<long>());
            if (min < 0 || max >= classCount)
                throw new InvalidDataException(
                    $"Training batch {batchIndex + 1} of epoch {epoch + 1} has label {(min < 0 ? min : max)}, outside the {classCount} classes (0…{classCount - 1}).");
            // This runs on the prefetch thread, outside the training step's dispose scope.
            using var scope = NewDisposeScope();
            var augmented = _trainTransform.Apply(images, _spec.Seed, epoch, batchIndex).DetachFromDisposeScope();
            return new LabeledBatch(augmented, batch.Labels.clone().DetachFromDisposeScope());
        }
    }

    /// <summary>Validates the epoch's model (the EMA's, when there is one), keeps it if it is the best so far, writes
    /// the checkpoint and reports the epoch.</summary>
    void FinishEpoch(int epoch, IBatchSource? validation, double trainTop1, Stopwatch clock)
    {
        var terms = _tracker.ReadEpoch(epoch + 1);
        var evaluated = _ema is null ? _student : (VisionModel)_ema.Module;
        var validated = validation is null ? null
            : DistillationTrainer.Evaluate(evaluated, validation, _evalTransform, _spec.BatchSize, _device, _stop.Token);
        var metrics = new EpochMetrics(epoch + 1, terms["total"], terms.Where(t => t.Key != "total").ToDictionary(), trainTop1,
            validated?.Loss, validated?.Top1, validated?.Top5, _step.LearningRate, clock.Elapsed.TotalSeconds,
            _stepsPerEpoch * _spec.BatchSize / clock.Elapsed.TotalSeconds);
        _history.Add(metrics);
        if (validated is not null && _stopping.Observe(epoch + 1, _spec.Monitor == MonitoredMetric.Top1 ? validated.Top1 : validated.Loss))
        {
            _best = SafetensorsWeights.ToBytes(evaluated);
            _bestIsEma = _ema is not null;
        }
        if (_checkpointPath is not null)
            ResumeState.Save(_checkpointPath, _record with
            {
                CompletedEpochs = epoch + 1, History = _history, Best = _stopping.Best, BestEpoch = _stopping.BestEpoch, BestIsEma = _bestIsEma,
            }, _student, _objective, _step.Optimizer, _globalStep, _ema, _best);
        _reporter.EpochDone(epoch, terms, metrics);
    }

    /// <inheritdoc />
    public void Dispose() => _tracker.Dispose();
}
