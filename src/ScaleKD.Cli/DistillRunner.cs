using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.MLNet;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training;

namespace ScaleKD.Cli;

/// <summary>The outcome of one student run.</summary>
public sealed record StudentRun(DistillationMethod Method, IReadOnlyList<EpochMetrics> History, MulticlassClassificationMetrics Metrics, double Seconds, string ModelPath);

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
        var data = DataSets.Open(ml, settings.Data, settings.TrainLimit, settings.ValidationLimit, settings.TeacherTrainLimit);
        display.Line($"Data: {data.Description}");
        var keyed = DataSets.LabelToKey(ml, data.ClassNames).Fit(data.Train);
        Directory.CreateDirectory(settings.Output);
        var teacherHistory = new List<EpochMetrics>();
        var spec = settings.Spec with { Teacher = settings.Spec.Teacher with { CacheDirectory = TeacherCacheDirectory } };
        var teacherCacheKey = TeacherCacheKey(settings, data.ClassNames);
        var runs = new List<StudentRun>();
        foreach (var method in settings.Baseline && spec.Method != DistillationMethod.None ? [DistillationMethod.None, spec.Method] : new[] { spec.Method })
        {
            var run = spec with { Method = method, CheckpointDirectory = spec.CheckpointDirectory is { } c ? Path.Combine(c, method.ToString()) : null };
            if (method != DistillationMethod.None)
                AnnounceTeacher(run, teacherCacheKey, data);
            runs.Add(RunStudent(ml, run, keyed, data, teacherCacheKey, teacherHistory));
        }
        if (teacherHistory.Count == 0 && spec.Method != DistillationMethod.None && spec.Teacher.WeightsPath is null)
            display.Line("The teacher came from the cache; its accuracy when trained is in its .json description.");
        return new DistillOutcome(teacherHistory, runs, data);
    }

    StudentRun RunStudent(MLContext ml, DistillationSpec run, ITransformer keyed, ImageDataSet data, string teacherCacheKey, List<EpochMetrics> teacherHistory)
    {
        var history = new List<EpochMetrics>();
        var clock = Stopwatch.StartNew();
        var train = keyed.Transform(data.Train);
        var options = ScaleKDTrainer.Options.FromSpec(run);
        options.TeacherTrainingSet = keyed.Transform(data.TeacherTrain);
        options.TeacherCacheKey = teacherCacheKey;
        // The teacher is always checked on the held-out images (they choose its best epoch); the student only when asked.
        options.TeacherValidationSet = keyed.Transform(data.Validation);
        options.ValidationSet = settings.ValidateEachEpoch ? options.TeacherValidationSet : null;
        options.Progress = display.Phase($"{run.Method} student ({run.Student})", run.Epochs, history.Add);
        options.TeacherProgress = display.Phase($"teacher ({run.Teacher.Model}, from scratch)", run.Teacher.Epochs, teacherHistory.Add);
        var student = ml.MulticlassClassification.Trainers.ScaleKD(options).Fit(train);
        using var model = ModelZip.Chain(ml, student, train);
        var metrics = ml.MulticlassClassification.Evaluate(model.Transform(keyed.Transform(data.Test)), scoreColumnName: "Score", predictedLabelColumnName: "PredictedLabel");
        var zip = Path.Combine(settings.Output, run.Method == settings.Spec.Method ? "model.zip" : $"model-{run.Method}.zip");
        ModelZip.Save(ml, model, train, zip);
        display.Line($"{run.Method}: test top-1 {metrics.MicroAccuracy:P2} ({clock.Elapsed.TotalSeconds:F0} s); model {zip}");
        return new StudentRun(run.Method, history, metrics, clock.Elapsed.TotalSeconds, zip);
    }

    /// <summary>Says where the teacher comes from: the given weights, the cache, or training it now (then cached).</summary>
    void AnnounceTeacher(DistillationSpec run, string teacherCacheKey, ImageDataSet data)
    {
        if (run.Teacher.WeightsPath is { } weights)
            display.Line($"Teacher: {weights}");
        else if (TeacherCache.PathFor(run, teacherCacheKey) is { } cached && TeacherFiles.Exists(cached))
            display.Line($"Teacher: {cached}");
        else
            display.Line($"Training the teacher {run.Teacher.Model} on {data.ClassNames.Count} classes; it is cached in {TeacherCacheDirectory} for later runs.");
    }

    /// <summary>Names the teacher's data for the cache: where it lives, its classes, and the subsets the teacher sees
    /// (its training images, and the validation images that choose its best epoch). The student's subset is not part
    /// of it, so one teacher serves every student size.</summary>
    public static string TeacherCacheKey(DistillSettings settings, IReadOnlyList<string> classNames) =>
        $"{Path.GetFullPath(settings.Data ?? Torch.Training.Data.FashionMnist.DefaultDirectory)}|{string.Join("|", classNames)}" +
        $"|teacher images {settings.TeacherTrainLimit?.ToString() ?? "all"}|validation images {settings.ValidationLimit?.ToString() ?? "all"}";
}
