using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.MLNet;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.IO;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training;

namespace ScaleKD.Cli;

/// <summary>The outcome of one student run.</summary>
/// <param name="TeacherVerdict">The check of the teacher before this run distilled from it; null without a teacher.</param>
/// <param name="TeacherTest">The teacher's accuracy on the test split, scored as the student is; null when not asked.</param>
public sealed record StudentRun(DistillationMethod Method, IReadOnlyList<EpochMetrics> History, MulticlassClassificationMetrics Metrics, double Seconds, string ModelPath,
    TeacherVerdict? TeacherVerdict = null, ClassificationResult? TeacherTest = null)
{
    /// <summary>The validation top-1 of the epoch whose weights the run returned (the best one when validated every epoch).</summary>
    public double? ValidationTop1 => History.Where(h => h.ValidationTop1 is not null).MaxBy(h => h.ValidationTop1)?.ValidationTop1;
}

/// <summary>What <see cref="DistillRunner.Run"/> produced: the teacher's epochs (when it was trained here), each student
/// run that finished, the data they used, and, when a stop was requested, the run it cut short.</summary>
public sealed record DistillOutcome(IReadOnlyList<EpochMetrics> Teacher, IReadOnlyList<StudentRun> Students, ImageDataSet Data, StoppedRun? Stopped = null);

/// <summary>Distils the student of the settings (the teacher prepared, trained or reused from the cache by ScaleKD.Torch's
/// <see cref="TeacherPreparation"/>), saves the model zip, then evaluates it. The zip is written before anything else
/// that could fail, so a late failure (scoring the test split, writing the report) never costs the trained student.</summary>
/// <param name="data">The data, opened (and checked) by <see cref="Preflight"/>.</param>
/// <param name="stop">A stop request (Ctrl-C): the student in training finishes its step, its best weights so far are
/// saved, and no further run starts.</param>
public sealed class DistillRunner(DistillSettings settings, TrainingDisplay display, ImageDataSet data, CancellationToken stop = default)
{
    /// <summary>Where from-scratch teachers are cached between runs.</summary>
    public static string TeacherCacheDirectory => Path.Combine(
        Environment.GetEnvironmentVariable("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"),
        "scalekd", "teachers");

    /// <summary>Runs the requested method (and, with <see cref="DistillSettings.Baseline"/>, the student alone).</summary>
    public DistillOutcome Run()
    {
        var ml = new MLContext(seed: settings.Spec.Seed)
        {
            GpuDeviceId = settings.Device == "cuda" ? 0 : null,
            FallbackToCpu = false,
        };
        // The trainer reports the teacher's preparation and check on ML.NET's log, as to any ML.NET application.
        ml.Log += (_, e) =>
        {
            // The run's own header and end are the tool's to print; the teacher's lines are shown as they come.
            if (e.Kind <= Microsoft.ML.Runtime.ChannelMessageKind.Info && e.RawMessage.StartsWith(TrainerLogPrefix, StringComparison.Ordinal)
                && !e.RawMessage.Contains(" training images, ", StringComparison.Ordinal) && !e.RawMessage.StartsWith(TrainerLogPrefix + "training ", StringComparison.Ordinal))
                display.Line((e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Warning ? "warning: " : "") + e.RawMessage[TrainerLogPrefix.Length..]);
        };
        display.Line($"Data: {data.Description}");
        var keyed = DataSets.LabelToKey(ml, data.ClassNames).Fit(data.Train);
        Directory.CreateDirectory(settings.Output);
        var teacherHistory = new List<EpochMetrics>();
        var spec = settings.Spec with { Teacher = settings.Spec.Teacher with { CacheDirectory = TeacherCacheDirectory } };
        var teacherCacheKey = TeacherCacheKey(settings, data.ClassNames, data.Fingerprint);
        var runs = new List<StudentRun>();
        foreach (var method in settings.Baseline && spec.Method != DistillationMethod.None ? [DistillationMethod.None, spec.Method] : new[] { spec.Method })
        {
            var run = spec with { Method = method, CheckpointDirectory = spec.CheckpointDirectory is { } c ? Path.Combine(c, method.ToString()) : null };
            if (method != DistillationMethod.None)
                AnnounceTeacher(run, teacherCacheKey, data);
            AnnounceResume(run);
            var alone = runs.FirstOrDefault(r => r.Method == DistillationMethod.None)?.ValidationTop1;
            StudentRun? finished;
            StoppedRun? stopped;
            try
            {
                (finished, stopped) = RunStudent(ml, run, keyed, data, teacherCacheKey, teacherHistory, alone);
            }
            catch (WeakTeacherException weak)
            {
                throw new CliException(weak.Message, "to distil anyway, pass --force" +
                    (runs.Count > 0 ? $"; the student trained without distillation is saved in {runs[^1].ModelPath}" : ""));
            }
            if (stopped is not null)
                return new DistillOutcome(teacherHistory, runs, data, stopped);
            runs.Add(finished!);
        }
        if (teacherHistory.Count == 0 && spec.Method != DistillationMethod.None && spec.Teacher.WeightsPath is null
            && !ModelRegistry.IsBuiltInPretrained(spec.Teacher.Model))
            display.Line("The teacher came from the cache; its accuracy when trained is in its .json description.");
        return new DistillOutcome(teacherHistory, runs, data);
    }

    const string TrainerLogPrefix = "ScaleKD: ";

    (StudentRun? Finished, StoppedRun? Stopped) RunStudent(MLContext ml, DistillationSpec run, ITransformer keyed, ImageDataSet data, string teacherCacheKey,
        List<EpochMetrics> teacherHistory, double? studentAloneTop1)
    {
        var history = new List<EpochMetrics>();
        var clock = Stopwatch.StartNew();
        var train = keyed.Transform(data.Train);
        var options = ScaleKDTrainer.Options.FromSpec(run);
        options.TeacherTrainingSet = keyed.Transform(data.TeacherTrain);
        options.TeacherCacheKey = teacherCacheKey;
        // The baseline just trained is a better measure of the student alone than the check's quick estimate.
        options.StudentOnlyValidationTop1 = studentAloneTop1;
        // The teacher is always checked on the held-out images (they choose its best epoch); the student only when asked.
        options.TeacherValidationSet = keyed.Transform(data.Validation);
        options.ValidationSet = settings.ValidateEachEpoch ? options.TeacherValidationSet : null;
        options.TeacherTestSet = settings.ScoreTeacher ? keyed.Transform(data.Test) : null;
        options.Progress = display.Phase($"{run.Method} student ({run.Student})", run.Epochs, history.Add);
        options.TeacherProgress = display.Phase($"teacher ({run.Teacher.Model}, from scratch)", run.Teacher.Epochs, teacherHistory.Add);
        options.CancellationToken = stop;
        ScaleKDTransformer student;
        try
        {
            student = ml.MulticlassClassification.Trainers.ScaleKD(options).Fit(train);
        }
        catch (Exception e) when (CliException.Cause(e) is FileWriteException write)
        {
            // A checkpoint (or the teacher cache) could not be written: the previous checkpoint is whole, so the work up to
            // it is kept and the same command with --resume continues from there.
            throw new CliException($"Training stopped: {write.Message}.", settings.Spec.CheckpointDirectory is { } checkpoints
                ? $"free some disk space, then run the same command with --resume: it continues from the last checkpoint in {checkpoints}"
                : "free some disk space or choose another --output folder", e);
        }
        var zip = Path.Combine(settings.Output, run.Method == settings.Spec.Method ? "model.zip" : $"model-{run.Method}.zip");
        // A stop before the student's first epoch ended (during the teacher's training, say) leaves only initial weights:
        // nothing worth a zip, and an old zip of a finished run must not be replaced by it.
        if (stop.IsCancellationRequested && history.Count == 0)
            return (null, new StoppedRun(run.Method, 0, null, run.CheckpointDirectory));
        using var model = ModelZip.Chain(ml, student, train);
        Save(() => ModelZip.Save(ml, model, train, zip), $"Saving the model to {zip}");
        if (stop.IsCancellationRequested)
            return (null, new StoppedRun(run.Method, history.Count, zip, run.CheckpointDirectory));
        MulticlassClassificationMetrics metrics;
        try
        {
            metrics = ml.MulticlassClassification.Evaluate(model.Transform(keyed.Transform(data.Test)), scoreColumnName: "Score", predictedLabelColumnName: "PredictedLabel");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw CliException.AfterSaving($"Scoring the held-out images failed: {CliException.Cause(e).Message}", zip, e);
        }
        display.Line($"{run.Method}: test top-1 {metrics.MicroAccuracy:P2} ({clock.Elapsed.TotalSeconds:F0} s); model {zip}");
        // A resumed run's own epochs start where the checkpoint left off; the fit's history has the earlier ones too.
        if (student.TrainingHistory.Count > history.Count)
            history = [.. student.TrainingHistory];
        return (new StudentRun(run.Method, history, metrics, clock.Elapsed.TotalSeconds, zip, student.TeacherVerdict, student.TeacherTest), null);
    }

    /// <summary>Runs a write; a failed one (full disk, a folder removed) becomes one line naming the file.</summary>
    static void Save(Action write, string what)
    {
        try
        {
            write();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{what} failed: {e.Message}", "free some disk space or choose another --output folder; with --checkpoint-dir the run resumes from its last epoch", e);
        }
    }

    /// <summary>Says that a checkpoint is being resumed, or that --resume found none (and starts from epoch 1).</summary>
    void AnnounceResume(DistillationSpec run)
    {
        if (run.CheckpointDirectory is not { } folder || !run.Resume)
            return;
        var checkpoint = Path.Combine(folder, TrainingCheckpoint.FileName);
        display.Line(File.Exists(checkpoint)
            ? $"Resuming the {run.Method} student from {checkpoint}."
            : $"No checkpoint at {checkpoint} yet: the {run.Method} student starts from epoch 1.");
    }

    /// <summary>Says where the teacher comes from: the given weights, the cache, or training it now (then cached).</summary>
    void AnnounceTeacher(DistillationSpec run, string teacherCacheKey, ImageDataSet data)
    {
        if (run.Teacher.WeightsPath is { } weights)
            display.Line($"Teacher: {weights}");
        else if (ModelRegistry.IsBuiltInPretrained(run.Teacher.Model))
            display.Line($"Teacher: {run.Teacher.Model}, pretrained on ImageNet (from ML.NET's package), seen at {run.Teacher.ImageSizeFor(run.ImageSize)} px; " +
                $"its head is fitted on your labels (linear probe) and cached in {TeacherCacheDirectory}.");
        else if (TeacherCache.PathFor(run, teacherCacheKey) is { } cached && TeacherFiles.Exists(cached))
            display.Line($"Teacher: {cached}");
        else if (run.Resume && run.ForTeacherTraining().CheckpointDirectory is { } folder && File.Exists(Path.Combine(folder, TrainingCheckpoint.FileName)))
            display.Line($"Resuming the teacher's training from {Path.Combine(folder, TrainingCheckpoint.FileName)}; it is cached in {TeacherCacheDirectory} once trained.");
        else
            display.Line($"Training the teacher {run.Teacher.Model} on {data.ClassNames.Count} classes; it is cached in {TeacherCacheDirectory} for later runs.");
    }

    /// <summary>Names the teacher's data for the cache: where it lives, its classes, the subsets the teacher sees (its
    /// training images, and the validation images that choose its best epoch), and the fingerprint of its files, so that
    /// images replaced in place train a new teacher instead of reusing a stale one. The student's subset is not part of
    /// it, so one teacher serves every student size.</summary>
    public static string TeacherCacheKey(DistillSettings settings, IReadOnlyList<string> classNames, string? fingerprint) =>
        $"{Path.GetFullPath(settings.Data ?? Torch.Training.Data.FashionMnist.DefaultDirectory)}|{string.Join("|", classNames)}" +
        $"|teacher images {settings.TeacherTrainLimit?.ToString() ?? "all"}|validation images {settings.ValidationLimit?.ToString() ?? "all"}" +
        (fingerprint is null ? "" : $"|files {fingerprint}");
}
