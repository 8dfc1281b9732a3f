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
public sealed record StudentRun(DistillationMethod Method, IReadOnlyList<EpochMetrics> History, MulticlassClassificationMetrics Metrics, double Seconds, string ModelPath,
    TeacherVerdict? TeacherVerdict = null)
{
    /// <summary>The validation top-1 of the epoch whose weights the run returned (the best one when validated every epoch).</summary>
    public double? ValidationTop1 => History.Where(h => h.ValidationTop1 is not null).MaxBy(h => h.ValidationTop1)?.ValidationTop1;
}

/// <summary>What <see cref="DistillRunner.Run"/> produced: the teacher's epochs (when it was trained here), each student
/// run, and the data they used.</summary>
public sealed record DistillOutcome(IReadOnlyList<EpochMetrics> Teacher, IReadOnlyList<StudentRun> Students, ImageDataSet Data);

/// <summary>Distils the student of the settings (the teacher prepared, trained or reused from the cache by ScaleKD.Torch's
/// <see cref="TeacherPreparation"/>), evaluates it, and saves the model zip.</summary>
public sealed class DistillRunner(DistillSettings settings, TrainingDisplay display)
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
        var data = DataSets.Open(ml, settings.Data, settings.TrainLimit, settings.ValidationLimit, settings.TeacherTrainLimit);
        display.Line($"Data: {data.Description}");
        var keyed = DataSets.LabelToKey(ml, data.ClassNames).Fit(data.Train);
        Directory.CreateDirectory(settings.Output);
        var teacherHistory = new List<EpochMetrics>();
        var spec = settings.Spec with { Teacher = settings.Spec.Teacher with { CacheDirectory = TeacherCacheDirectory } };
        var teacherCacheKey = TeacherCacheKey(data);
        var runs = new List<StudentRun>();
        foreach (var method in settings.Baseline && spec.Method != DistillationMethod.None ? [DistillationMethod.None, spec.Method] : new[] { spec.Method })
        {
            var run = spec with { Method = method, CheckpointDirectory = spec.CheckpointDirectory is { } c ? Path.Combine(c, method.ToString()) : null };
            if (method != DistillationMethod.None)
                AnnounceTeacher(run, teacherCacheKey, data);
            var alone = runs.FirstOrDefault(r => r.Method == DistillationMethod.None)?.ValidationTop1;
            try
            {
                runs.Add(RunStudent(ml, run, keyed, data, teacherCacheKey, teacherHistory, alone));
            }
            catch (WeakTeacherException weak)
            {
                throw new CliException(weak.Message, "to distil anyway, pass --force" +
                    (runs.Count > 0 ? $"; the student trained without distillation is saved in {runs[^1].ModelPath}" : ""));
            }
        }
        if (teacherHistory.Count == 0 && spec.Method != DistillationMethod.None && spec.Teacher.WeightsPath is null)
            display.Line("The teacher came from the cache; its accuracy when trained is in its .json description.");
        return new DistillOutcome(teacherHistory, runs, data);
    }

    const string TrainerLogPrefix = "ScaleKD: ";

    StudentRun RunStudent(MLContext ml, DistillationSpec run, ITransformer keyed, ImageDataSet data, string teacherCacheKey, List<EpochMetrics> teacherHistory,
        double? studentAloneTop1)
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
        options.Progress = display.Phase($"{run.Method} student ({run.Student})", run.Epochs, history.Add);
        options.TeacherProgress = display.Phase($"teacher ({run.Teacher.Model}, from scratch)", run.Teacher.Epochs, teacherHistory.Add);
        var student = ml.MulticlassClassification.Trainers.ScaleKD(options).Fit(train);
        using var model = new TransformerChain<ITransformer>(student, ml.Transforms.Conversion.MapKeyToValue("PredictedLabel").Fit(student.Transform(train)));
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(keyed.Transform(data.Test)), scoreColumnName: "Score", predictedLabelColumnName: "PredictedLabel");
        var zip = Path.Combine(settings.Output, run.Method == settings.Spec.Method ? "model.zip" : $"model-{run.Method}.zip");
        AtomicFile.Write(zip, stream => ml.Model.Save(model, train.Schema, stream));
        display.Line($"{run.Method}: test top-1 {metrics.MicroAccuracy:P2} ({clock.Elapsed.TotalSeconds:F0} s); model {zip}");
        return new StudentRun(run.Method, history, metrics, clock.Elapsed.TotalSeconds, zip, student.TeacherVerdict);
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
        else
            display.Line($"Training the teacher {run.Teacher.Model} on {data.ClassNames.Count} classes; it is cached in {TeacherCacheDirectory} for later runs.");
    }

    /// <summary>Names the teacher's data for the cache: where it lives, its classes, and the subsets the teacher sees
    /// (its training images, and the validation images that choose its best epoch). The student's subset is not part
    /// of it, so one teacher serves every student size.</summary>
    string TeacherCacheKey(ImageDataSet data) =>
        $"{Path.GetFullPath(settings.Data ?? Torch.Training.Data.FashionMnist.DefaultDirectory)}|{string.Join("|", data.ClassNames)}" +
        $"|teacher images {settings.TeacherTrainLimit?.ToString() ?? "all"}|validation images {settings.ValidationLimit?.ToString() ?? "all"}";
}
