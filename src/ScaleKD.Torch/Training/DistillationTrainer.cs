using System.Diagnostics;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Data;
using ScaleKD.Torch.Training.Optimization;
using ScaleKD.Torch.Weights;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training;

/// <summary>
/// The distillation loop: a student (and, for every method but <see cref="DistillationMethod.None"/>, a frozen
/// teacher), batches streamed from an <see cref="IBatchSource"/> and augmented on a background thread, the official
/// optimisation recipe, per-epoch validation, early stopping, atomic checkpoints and exact resume, cancellation that
/// keeps the work, and progress without a device sync per step.
/// </summary>
public sealed class DistillationTrainer(DistillationOptions options)
{
    /// <summary>The run's settings.</summary>
    public DistillationOptions Options { get; } = options;

    /// <summary>Trains <paramref name="student"/> in place and returns it with its history.</summary>
    /// <param name="teacher">The teacher, already prepared (imported, probed or trained); frozen here. Null only for
    /// <see cref="DistillationMethod.None"/>.</param>
    /// <param name="validation">Evaluated after every epoch (top-1, top-5, loss), for the best epoch and early stopping.</param>
    /// <exception cref="ArgumentException">Empty data, too few images for one batch, or classes that do not agree.</exception>
    /// <exception cref="NonFiniteLossException">A loss term became NaN or infinite; the message names the step and term.</exception>
    public DistillationResult Fit(VisionModel student, VisionModel? teacher, IBatchSource train, IBatchSource? validation = null,
        IProgress<DistillationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var o = Options;
        o.Validate();
        CheckData(student, teacher, train, validation, o);
        var device = TorchBackend.Initialize(o.Backend).Device;
        student.to(device);
        if (teacher is not null)
        {
            teacher.to(device);
            if (device.type == DeviceType.CUDA && o.TeacherBFloat16OnCuda)
                teacher.to(ScalarType.BFloat16);
        }
        using var objective = DistillationObjectives.Create(o.Method, student, teacher, o.ScaleKD);
        objective.to(device);

        var augmentation = o.Augmentation ?? new AugmentationOptions { ImageSize = student.Options.ImageSize };
        augmentation.Validate();
        var trainTransform = new TrainAugmentation(augmentation);
        var evalTransform = new EvalTransform(augmentation);
        var stepsPerEpoch = train.Count / o.BatchSize;
        var recipe = o.Optimizer ?? OptimizerRecipe.OfficialFor(student.Family, o.BatchSize);
        ILearningRateSchedule schedule = o.WarmupEpochs is { } warmup
            ? new WarmupCosineSchedule(stepsPerEpoch * o.Epochs, Math.Min((long)Math.Round(warmup * stepsPerEpoch), stepsPerEpoch * o.Epochs),
                recipe.LearningRate * 1e-3, Math.Min(1e-5, recipe.LearningRate))
            : WarmupCosineSchedule.OfficialFor(student.Family, recipe.LearningRate, stepsPerEpoch, o.Epochs);

        var run = new TrainingCheckpoint(student.GetName(), o.Method.ToString(), o.Seed, o.Epochs, o.BatchSize, train.Count, 0, [], null, -1, false);
        var checkpointPath = o.CheckpointDirectory is null ? null : Path.Combine(o.CheckpointDirectory, TrainingCheckpoint.FileName);
        var resume = checkpointPath is not null && o.Resume && File.Exists(checkpointPath)
            ? CheckpointFile.Load<TrainingCheckpoint>(checkpointPath)
            : ((TrainingCheckpoint, Dictionary<string, byte[]>)?)null;
        if (resume is { } saved)
        {
            saved.Item1.CheckMatches(run, checkpointPath!);
            run = saved.Item1;
            // Weights first, in place: optimizers and the EMA are then built on the restored parameters.
            SafetensorsWeights.LoadBytes(student, saved.Item2["student"], $"checkpoint {checkpointPath} (student)");
            SafetensorsWeights.LoadBytes(objective, saved.Item2["objective"], $"checkpoint {checkpointPath} (projectors)");
        }

        var trainable = student.named_parameters().Select(p => ($"student.{p.name}", p.parameter))
            .Concat(objective.named_parameters().Where(p => p.parameter.requires_grad).Select(p => ($"objective.{p.name}", p.parameter)))
            .ToList();
        using var optimizer = OptimizerFactory.Create(trainable, recipe);
        using var ema = CreateEma(student, o);
        long globalStep = 0;
        if (resume is { } restoring)
        {
            using var stream = new MemoryStream(restoring.Item2["optimizer"], writable: false);
            globalStep = OptimizerCheckpoint.Restore(stream, optimizer, ema);
        }

        var history = run.History.ToList();
        var stopping = new EarlyStopping(o.Monitor, o.EarlyStoppingPatience);
        stopping.Restore(run.Best, run.BestEpoch);
        var best = resume is { } withBest && withBest.Item2.TryGetValue("best", out var bestBytes) ? bestBytes : null;
        var bestIsEma = run.BestIsEma;
        var stopReason = StopReason.Completed;
        var clock = Stopwatch.StartNew();
        var stepsDone = 0L;
        using var tracker = new LossTracker();

        for (var epoch = run.CompletedEpochs; epoch < o.Epochs && stopReason == StopReason.Completed; epoch++)
        {
            manual_seed(IndexOrder.SeedFor(o.Seed, epoch)); // dropout and stochastic depth repeat per epoch, so resume is exact
            student.train();
            objective.train();
            var epochClock = Stopwatch.StartNew();
            var windowClock = Stopwatch.StartNew();
            long windowImages = 0, step = 0;
            using var trainMetrics = new ClassificationMetrics();
            var request = new BatchRequest(epoch, o.BatchSize, Shuffle: true, o.Seed, DropLast: true);
            var batchIndex = 0L;
            var currentEpoch = epoch;
            var batches = PrefetchingBatchSource.Prefetch(train.ReadBatches(request, cancellationToken), o.PrefetchDepth, cancellationToken,
                batch => Augment(batch, trainTransform, train.ClassCount, o.Seed, currentEpoch, batchIndex++));
            try
            {
                foreach (var batch in batches)
                {
                    var batchImages = batch.Count;
                    using (batch)
                    using (var scope = NewDisposeScope())
                    {
                        var images = batch.Images.to(device);
                        var labels = batch.Labels.to(device);
                        schedule.Apply(optimizer, globalStep);
                        var loss = objective.Compute(images, labels);
                        optimizer.zero_grad();
                        loss.Total.backward();
                        if (o.GradientClipNorm is { } clip)
                            GradientClipping.ClipByGlobalNorm(trainable.Select(p => p.Item2), clip);
                        optimizer.step();
                        ema?.Update(student);
                        tracker.Add(loss.Terms, loss.Total, globalStep);
                        trainMetrics.Add(loss.Total, loss.StudentLogits, labels);
                    }
                    globalStep++;
                    step++;
                    stepsDone++;
                    windowImages += batchImages;
                    if (step % o.LogEverySteps == 0)
                    {
                        var losses = tracker.ReadWindow(epoch + 1);
                        var remaining = Remaining(clock, stepsDone, (o.Epochs - epoch) * stepsPerEpoch - step);
                        progress?.Report(new DistillationProgress(epoch + 1, o.Epochs, step, stepsPerEpoch, losses, CurrentLearningRate(optimizer),
                            windowImages / windowClock.Elapsed.TotalSeconds, remaining, null));
                        windowImages = 0;
                        windowClock.Restart();
                    }
                    if (cancellationToken.IsCancellationRequested)
                        break;
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
            if (cancellationToken.IsCancellationRequested)
            {
                tracker.ReadEpoch(epoch + 1); // still refuse to hand back a model whose loss went NaN
                stopReason = StopReason.Cancelled;
                break;
            }

            var terms = tracker.ReadEpoch(epoch + 1);
            var evaluated = ema is null ? student : (VisionModel)ema.Module;
            var (validationLoss, top1, top5) = validation is null
                ? ((double?)null, (double?)null, (double?)null)
                : Evaluate(evaluated, validation, evalTransform, o.BatchSize, device, cancellationToken);
            var metrics = new EpochMetrics(epoch + 1, terms["total"], terms.Where(t => t.Key != "total").ToDictionary(), trainMetrics.Result().Top1,
                validationLoss, top1, top5, CurrentLearningRate(optimizer), epochClock.Elapsed.TotalSeconds, stepsPerEpoch * o.BatchSize / epochClock.Elapsed.TotalSeconds);
            history.Add(metrics);
            if (validation is not null && stopping.Observe(epoch + 1, o.Monitor == MonitoredMetric.Top1 ? top1!.Value : validationLoss!.Value))
            {
                best = SafetensorsWeights.ToBytes(evaluated);
                bestIsEma = ema is not null;
            }
            if (checkpointPath is not null)
                SaveCheckpoint(checkpointPath, run with { CompletedEpochs = epoch + 1, History = history, Best = stopping.Best, BestEpoch = stopping.BestEpoch, BestIsEma = bestIsEma },
                    student, objective, optimizer, globalStep, ema, best);
            progress?.Report(new DistillationProgress(epoch + 1, o.Epochs, stepsPerEpoch, stepsPerEpoch, terms, metrics.LearningRate,
                metrics.ImagesPerSecond, Remaining(clock, stepsDone, (o.Epochs - epoch - 1) * stepsPerEpoch), metrics));
            if (stopping.ShouldStop(epoch + 1))
                stopReason = StopReason.EarlyStopped;
        }

        int? returnedEpoch = null;
        var returnedEma = false;
        if (o.RestoreBestWeights && best is not null)
        {
            SafetensorsWeights.LoadBytes(student, best, "the best epoch's weights");
            (returnedEpoch, returnedEma) = (stopping.BestEpoch, bestIsEma);
        }
        else if (ema is not null)
        {
            SafetensorsWeights.LoadBytes(student, SafetensorsWeights.ToBytes(ema.Module), "the EMA weights");
            returnedEma = true;
        }
        student.eval();
        return new DistillationResult(student, history, stopReason, returnedEpoch, returnedEma, resume?.Item1.CompletedEpochs ?? 0);
    }

    /// <summary>Evaluates a model on a source: mean cross-entropy, top-1 and top-5, in eval mode without gradients.</summary>
    public static (double Loss, double Top1, double Top5) Evaluate(nn.Module<Tensor, Tensor> model, IBatchSource source, EvalTransform transform,
        int batchSize, Device device, CancellationToken cancellationToken = default)
    {
        model.eval();
        using var noGrad = no_grad();
        using var metrics = new ClassificationMetrics();
        foreach (var batch in source.ReadBatches(new BatchRequest(0, batchSize, Shuffle: false, 0, DropLast: false), cancellationToken))
        {
            using (batch)
            using (var scope = NewDisposeScope())
            {
                var images = transform.Apply(batch.Images).to(device);
                var labels = batch.Labels.to(device);
                var logits = model.forward(images);
                metrics.Add(nn.functional.cross_entropy(logits, labels), logits, labels);
            }
        }
        return metrics.Result();
    }

    static void CheckData(VisionModel student, VisionModel? teacher, IBatchSource train, IBatchSource? validation, DistillationOptions o)
    {
        if (train.Count == 0)
            throw new ArgumentException("The training data is empty.", nameof(train));
        if (train.Count < o.BatchSize)
            throw new ArgumentException($"The training data has {train.Count} images, fewer than one batch of {o.BatchSize}; lower the batch size.", nameof(train));
        if (student.Options.NumClasses != train.ClassCount)
            throw new ArgumentException($"The student predicts {student.Options.NumClasses} classes but the training data has {train.ClassCount}.", nameof(student));
        if (teacher is not null && teacher.Options.NumClasses != train.ClassCount)
            throw new ArgumentException($"The teacher predicts {teacher.Options.NumClasses} classes but the training data has {train.ClassCount}; fit its head first (linear probe).", nameof(teacher));
        if (teacher is null && o.Method != DistillationMethod.None)
            throw new ArgumentException($"The {o.Method} method needs a teacher.", nameof(teacher));
        if (validation is not null && validation.ClassCount != train.ClassCount)
            throw new ArgumentException($"The validation data has {validation.ClassCount} classes but the training data has {train.ClassCount}.", nameof(validation));
    }

    /// <summary>Checks a source batch and augments it (on the prefetch thread); randomness comes from (seed, epoch, batch).</summary>
    static LabeledBatch Augment(LabeledBatch batch, TrainAugmentation augmentation, int classCount, int seed, int epoch, long batchIndex)
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
            var augmented = augmentation.Apply(images, seed, epoch, batchIndex).DetachFromDisposeScope();
            return new LabeledBatch(augmented, batch.Labels.clone().DetachFromDisposeScope());
        }
    }

    static ModelEma? CreateEma(VisionModel student, DistillationOptions o)
    {
        var officialEma = student.Family is ModelFamily.VisionTransformer or ModelFamily.Swin or ModelFamily.ConvNeXt;
        if (o.DisableEma || (o.Ema is null && !officialEma))
            return null;
        if (!ModelRegistry.Names.Contains(student.GetName()))
            throw new ArgumentException($"The EMA rebuilds the student by its registered name, and '{student.GetName()}' is not registered; set {nameof(DistillationOptions.DisableEma)}.");
        return new ModelEma(student, () => ModelRegistry.Create(student.GetName(), student.Options),
            o.Ema ?? new ModelEmaOptions { Decay = 0.9999, UseWarmup = true });
    }

    static void SaveCheckpoint(string path, TrainingCheckpoint state, VisionModel student, DistillationObjective objective,
        OptimizerHelper optimizer, long nextStep, ModelEma? ema, byte[]? best)
    {
        using var optimizerState = new MemoryStream();
        OptimizerCheckpoint.Save(optimizerState, optimizer, nextStep, ema);
        var sections = new Dictionary<string, byte[]>
        {
            ["student"] = SafetensorsWeights.ToBytes(student),
            ["objective"] = SafetensorsWeights.ToBytes(objective),
            ["optimizer"] = optimizerState.ToArray(),
        };
        if (best is not null)
            sections["best"] = best;
        CheckpointFile.Save(path, state, sections);
    }

    static double CurrentLearningRate(OptimizerHelper optimizer) => optimizer.ParamGroups.Max(g => g.LearningRate);

    static TimeSpan Remaining(Stopwatch clock, long stepsDone, long stepsLeft) =>
        stepsDone == 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(clock.Elapsed.TotalSeconds / stepsDone * Math.Max(0, stepsLeft));
}
