using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Training.Precision;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Data;
using ScaleKD.Torch.Training.Optimization;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training;

/// <summary>
/// The distillation loop: a student (and, for every method but <see cref="DistillationMethod.None"/>, a frozen
/// teacher), batches streamed from an <see cref="IBatchSource"/> and augmented on a background thread, the run's
/// optimisation recipe, per-epoch validation, early stopping, atomic checkpoints and exact resume, cancellation that
/// keeps the work, and progress without a device sync per step.
/// </summary>
/// <param name="spec">The run's settings.</param>
/// <param name="checkAlive">Asked after every step whether the caller is still interested; it throws
/// <see cref="OperationCanceledException"/> to stop the run, keeping the work (ML.NET's <c>Host.CheckAlive</c>).</param>
public sealed class DistillationTrainer(DistillationSpec spec, Action? checkAlive = null)
{
    /// <summary>The run's settings.</summary>
    public DistillationSpec Spec { get; } = spec;

    /// <summary>Trains <paramref name="student"/> in place and returns it with its history.</summary>
    /// <param name="teacher">The teacher, already prepared (imported, probed or trained); frozen here. Null only for
    /// <see cref="DistillationMethod.None"/>.</param>
    /// <param name="validation">Evaluated after every epoch (top-1, top-5, loss), for the best epoch and early stopping.</param>
    /// <exception cref="ArgumentException">Empty data, too few images for one batch, or classes that do not agree.</exception>
    /// <exception cref="NonFiniteLossException">A loss term became NaN or infinite; the message names the step and term.</exception>
    public DistillationResult Fit(VisionModel student, VisionModel? teacher, IBatchSource train, IBatchSource? validation = null,
        IProgress<DistillationProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Spec.Validate();
        CheckData(student, teacher, train, validation);
        var device = PlaceOnDevice(student, teacher);
        using var objective = DistillationObjective.Create(Spec.Method, student, teacher, Spec.Objective);
        objective.to(device);
        var checkpointPath = Spec.CheckpointDirectory is null ? null : Path.Combine(Spec.CheckpointDirectory, TrainingCheckpoint.FileName);
        var newRun = TrainingCheckpoint.NewRun(student.GetName(), Spec, train.Count);
        var resume = ResumeState.Load(Spec.Resume ? checkpointPath : null, newRun);
        resume?.RestoreWeights(student, objective);

        var stepsPerEpoch = train.Count / Spec.BatchSize;
        using var step = CreateStep(student, teacher, objective, stepsPerEpoch);
        using var ema = CreateEma(student);
        var reporter = new ProgressReporter(progress, Spec.Epochs, stepsPerEpoch, Spec.LogEverySteps);
        using var run = new TrainingRun(Spec, student, objective, step, ema, device, stepsPerEpoch, resume?.State ?? newRun, resume,
            checkpointPath, reporter, new StopSignal(cancellationToken, checkAlive));
        var stopReason = StopReason.Completed;
        for (var epoch = run.FirstEpoch; epoch < Spec.Epochs && stopReason == StopReason.Completed; epoch++)
            stopReason = run.RunEpoch(epoch, train, validation);
        return run.Finish(stopReason);
    }

    /// <summary>Evaluates a model on a source: mean cross-entropy, top-1 and top-5, in eval mode without gradients.</summary>
    public static ClassificationResult Evaluate(nn.Module<Tensor, Tensor> model, IBatchSource source, EvalTransform transform,
        int batchSize, Device device, CancellationToken cancellationToken = default)
    {
        model.eval();
        return Evaluate(model.forward, source, transform, batchSize, device, cancellationToken);
    }

    /// <summary>Evaluates a forward function (a model already in eval mode, with whatever it does to its input) on a
    /// source: mean cross-entropy, top-1 and top-5, without gradients.</summary>
    public static ClassificationResult Evaluate(Func<Tensor, Tensor> forward, IBatchSource source, EvalTransform transform,
        int batchSize, Device device, CancellationToken cancellationToken = default)
    {
        using var noGrad = no_grad();
        using var metrics = new ClassificationMetrics();
        foreach (var batch in source.ReadBatches(new BatchRequest(0, batchSize, Shuffle: false, 0, DropLast: false), cancellationToken))
        {
            using (batch)
            using (var scope = NewDisposeScope())
            {
                var images = transform.Apply(batch.Images).to(device);
                var labels = batch.Labels.to(device);
                var logits = forward(images);
                metrics.Add(nn.functional.cross_entropy(logits, labels), logits, labels);
            }
        }
        return metrics.Result();
    }

    /// <summary>How one optimisation step runs. This is the seam for another kind of step (mixed precision): the
    /// epoch loop only calls <see cref="ITrainingStep.Run"/>.</summary>
    ITrainingStep CreateStep(VisionModel student, VisionModel? teacher, DistillationObjective objective, long stepsPerEpoch)
    {
        var recipe = Spec.OptimizerFor(student.Family);
        var trainable = Trainable(student, objective);
        var schedule = recipe.CreateSchedule(stepsPerEpoch, Spec.Epochs);
        var onCuda = student.parameters().First().device.type == DeviceType.CUDA;
        return Spec.StudentBFloat16Everywhere || (onCuda && Spec.StudentBFloat16OnCuda)
            ? new BFloat16Step(student, objective, s => DistillationObjective.Create(Spec.Method, s, teacher, Spec.Objective),
                trainable, recipe, schedule, Spec.GradientClipNorm)
            : new FullPrecisionStep(objective, trainable, recipe, schedule, Spec.GradientClipNorm);
    }

    /// <summary>What the optimizer updates, by name: the student's parameters, then the objective's (its projectors).
    /// The PyTorch job (python/scalekd/job.py) orders and names them the same way.</summary>
    internal static List<(string Name, TorchSharp.Modules.Parameter Parameter)> Trainable(VisionModel student, DistillationObjective objective) =>
        student.named_parameters().Select(p => ($"student.{p.name}", p.parameter))
            .Concat(objective.named_parameters().Where(p => p.parameter.requires_grad).Select(p => ($"objective.{p.name}", p.parameter)))
            .ToList();

    ModelEma? CreateEma(VisionModel student)
    {
        if (Spec.EmaFor(student.Family) is not { } options)
            return null;
        if (!ModelRegistry.Names.Contains(student.GetName()))
            throw new ArgumentException($"The EMA rebuilds the student by its registered name, and '{student.GetName()}' is not registered; " +
                $"set {nameof(DistillationSpec.Ema)} = {nameof(ModelEmaOptions)}.{nameof(ModelEmaOptions.Off)}.");
        return new ModelEma(student, () => ModelRegistry.Create(student.GetName(), student.Options), options);
    }

    Device PlaceOnDevice(VisionModel student, VisionModel? teacher)
    {
        var device = TorchBackend.Initialize(Spec.Backend).Device;
        student.to(device);
        if (teacher is null)
            return device;
        teacher.to(device);
        if (device.type == DeviceType.CUDA && Spec.TeacherBFloat16OnCuda)
            teacher.to(ScalarType.BFloat16);
        return device;
    }

    void CheckData(VisionModel student, VisionModel? teacher, IBatchSource train, IBatchSource? validation)
    {
        if (train.Count == 0)
            throw new ArgumentException("The training data is empty.", nameof(train));
        if (train.Count < Spec.BatchSize)
            throw new ArgumentException($"The training data has {train.Count} images, fewer than one batch of {Spec.BatchSize}; lower the batch size.", nameof(train));
        if (student.Options.NumClasses != train.ClassCount)
            throw new ArgumentException($"The student predicts {student.Options.NumClasses} classes but the training data has {train.ClassCount}.", nameof(student));
        if (teacher is not null && teacher.Options.NumClasses != train.ClassCount)
            throw new ArgumentException($"The teacher predicts {teacher.Options.NumClasses} classes but the training data has {train.ClassCount}; fit its head first (linear probe).", nameof(teacher));
        if (teacher is null && Spec.Method != DistillationMethod.None)
            throw new ArgumentException($"The {Spec.Method} method needs a teacher.", nameof(teacher));
        if (validation is not null && validation.ClassCount != train.ClassCount)
            throw new ArgumentException($"The validation data has {validation.ClassCount} classes but the training data has {train.ClassCount}.", nameof(validation));
    }
}
