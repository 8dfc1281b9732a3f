using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.MLNet;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.IO;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Optimization;

namespace ScaleKD.Cli;

/// <summary>The outcome of one student run.</summary>
public sealed record StudentRun(DistillationMethod Method, IReadOnlyList<EpochMetrics> History, MulticlassClassificationMetrics Metrics, double Seconds, string ModelPath);

/// <summary>Trains (or reuses) the teacher, distils the student, evaluates, and saves the model zip.</summary>
public sealed class DistillRunner(DistillSettings settings, TrainingDisplay display)
{
    /// <summary>Where from-scratch teachers are cached between runs.</summary>
    public static string TeacherCache => Path.Combine(
        Environment.GetEnvironmentVariable("XDG_CACHE_HOME") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"),
        "scalekd", "teachers");

    /// <summary>Runs the requested method (and, with <see cref="DistillSettings.Baseline"/>, the student alone).</summary>
    public (IReadOnlyList<EpochMetrics> Teacher, IReadOnlyList<StudentRun> Students, ImageDataSet Data) Run()
    {
        var ml = new MLContext(seed: settings.Seed)
        {
            GpuDeviceId = settings.Device == "cuda" ? 0 : null,
            FallbackToCpu = false,
        };
        var data = DataSets.Open(ml, settings.Data, settings.TrainLimit, settings.ValidationLimit, settings.TeacherTrainLimit);
        display.Line($"Data: {data.Description}");
        var keyed = DataSets.LabelToKey(ml, data.ClassNames).Fit(data.Train);
        var train = keyed.Transform(data.Train);
        var validation = keyed.Transform(data.Validation);
        var test = keyed.Transform(data.Test);
        var teacherTrain = keyed.Transform(data.TeacherTrain);
        Directory.CreateDirectory(settings.Output);

        var teacherHistory = new List<EpochMetrics>();
        var teacherPath = settings.TeacherWeights ?? CachedTeacherPath(settings, data);
        var runs = new List<StudentRun>();
        foreach (var method in settings.Baseline && settings.Method != DistillationMethod.None ? [DistillationMethod.None, settings.Method] : new[] { settings.Method })
        {
            var history = new List<EpochMetrics>();
            var clock = Stopwatch.StartNew();
            var trainsTeacher = method != DistillationMethod.None && settings.TeacherWeights is null && !File.Exists(teacherPath);
            var options = new ScaleKDTrainer.Options
            {
                Teacher = settings.Teacher,
                TeacherWeightsPath = method == DistillationMethod.None || trainsTeacher ? null : teacherPath,
                TeacherOutputPath = trainsTeacher ? teacherPath : null,
                TeacherEpochs = settings.TeacherEpochs,
                TeacherTrainingSet = teacherTrain,
                Student = settings.Student,
                Method = method,
                ImageSize = settings.ImageSize,
                Epochs = settings.Epochs,
                BatchSize = settings.BatchSize,
                Seed = settings.Seed,
                ValidationSet = settings.ValidateEachEpoch ? validation : null,
                CheckpointDirectory = settings.CheckpointDirectory is { } c ? Path.Combine(c, method.ToString()) : null,
                Optimizer = settings.LearningRate is { } lr ? new OptimizerRecipe { Kind = OptimizerKind.AdamW, LearningRate = lr, WeightDecay = 0.05 } : null,
                TeacherOptimizer = settings.TeacherLearningRate is { } teacherLr ? new OptimizerRecipe { Kind = OptimizerKind.AdamW, LearningRate = teacherLr, WeightDecay = 0.05 } : null,
                Augmentation = settings.Augment switch
                {
                    "none" => AugmentationOptions.Disabled(settings.ImageSize),
                    "light" => new AugmentationOptions { ImageSize = settings.ImageSize, CropScaleMin = 0.35, RandAugment = null, ErasingProbability = 0 },
                    _ => new AugmentationOptions { ImageSize = settings.ImageSize },
                },
                Progress = display.Phase($"{method} student ({settings.Student})", settings.Epochs, history.Add),
                TeacherProgress = display.Phase($"teacher ({settings.Teacher}, from scratch)", settings.TeacherEpochs, teacherHistory.Add),
            };
            if (trainsTeacher)
                display.Line($"Training the teacher {settings.Teacher} on {data.ClassNames.Count} classes; it is cached at {teacherPath} for later runs.");
            else if (method != DistillationMethod.None)
                display.Line($"Teacher: {teacherPath}");
            var student = ml.MulticlassClassification.Trainers.ScaleKD(options).Fit(train);
            var model = new TransformerChain<ITransformer>(student, ml.Transforms.Conversion.MapKeyToValue("PredictedLabel").Fit(student.Transform(train)));
            var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test), scoreColumnName: "Score", predictedLabelColumnName: "PredictedLabel");
            var zip = Path.Combine(settings.Output, method == settings.Method ? "model.zip" : $"model-{method}.zip");
            AtomicFile.Write(zip, stream => ml.Model.Save(model, train.Schema, stream));
            runs.Add(new StudentRun(method, history, metrics, clock.Elapsed.TotalSeconds, zip));
            display.Line($"{method}: test top-1 {metrics.MicroAccuracy:P2} ({clock.Elapsed.TotalSeconds:F0} s); model {zip}");
            model.Dispose();
        }
        if (teacherHistory.Count == 0 && File.Exists(Path.ChangeExtension(teacherPath, ".json")))
            display.Line("The teacher came from the cache; its accuracy when trained is in its .json description.");
        return (teacherHistory, runs, data);
    }

    /// <summary>Where a from-scratch teacher for these settings and data is cached.</summary>
    public static string CachedTeacherPath(DistillSettings settings, ImageDataSet data)
    {
        var key = $"{settings.Teacher}-{settings.ImageSize}px-{settings.TeacherEpochs}ep-lr{settings.TeacherLearningRate ?? settings.LearningRate}-{settings.TeacherTrainLimit?.ToString() ?? "all"}img-seed{settings.Seed}-{Fingerprint(settings, data)}";
        return Path.Combine(TeacherCache, key + ".safetensors");
    }

    /// <summary>Identifies the teacher's training data: the data location and its classes (not the student's subset).</summary>
    static string Fingerprint(DistillSettings settings, ImageDataSet data)
    {
        var text = Path.GetFullPath(settings.Data ?? Torch.Training.Data.FashionMnist.DefaultDirectory) + "|" + string.Join("|", data.ClassNames);
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..12].ToLowerInvariant();
    }
}
