using System.Text.Json;
using System.Text.Json.Serialization;
using ScaleKD.Torch.IO;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Optimization;

namespace ScaleKD.Torch.Jobs;

/// <summary>
/// job.json: the <see cref="DistillationSpec"/> the job was exported from (what <c>import-student</c> reads back), and
/// beside it everything ScaleKD.Torch resolved from it for the Python runner (python/scalekd/job.py), so that the two
/// sides never resolve a default twice: the per-pair ScaleKD settings, the optimizer, the schedule's step counts, the
/// augmentation and the data. Written with snake_case names, the Python convention.
/// </summary>
public sealed record JobSettings
{
    /// <summary>The format's name in <see cref="Format"/>.</summary>
    public const string FormatName = "scalekd-job";

    /// <summary>The version this library writes and reads; python/scalekd/job.py checks it too.</summary>
    public const int CurrentVersion = 1;

    /// <summary>The file's name in a job folder.</summary>
    public const string FileName = "job.json";

    /// <summary>Always <see cref="FormatName"/>.</summary>
    public string Format { get; init; } = FormatName;

    /// <summary>The format's version.</summary>
    public int Version { get; init; } = CurrentVersion;

    /// <summary>The settings the job was exported from.</summary>
    public required DistillationSpec Spec { get; init; }

    /// <summary>The classes, by label index.</summary>
    public required IReadOnlyList<string> ClassNames { get; init; }

    /// <summary>The student's square image size.</summary>
    public required int ImageSize { get; init; }

    /// <summary>Channels the models take (grayscale images are repeated to them).</summary>
    public int InChannels { get; init; } = 3;

    /// <summary>Passes over the data.</summary>
    public required int Epochs { get; init; }

    /// <summary>The global batch, split over the processes; it sets the learning rate and the schedule.</summary>
    public required int BatchSize { get; init; }

    /// <summary>Seeds the data order.</summary>
    public required int Seed { get; init; }

    /// <summary>ScaleKD, VanillaKD or None.</summary>
    public required string Method { get; init; }

    /// <summary>The student: its registered (timm) name and its initial weights.</summary>
    public required JobModel Student { get; init; }

    /// <summary>The prepared teacher, or null for <c>None</c>.</summary>
    public JobModel? Teacher { get; init; }

    /// <summary>The objective's resolved settings and initial weights.</summary>
    public required JobObjective Objective { get; init; }

    /// <summary>The optimizer the recipe resolved to for the student's family.</summary>
    public required JobOptimizer Optimizer { get; init; }

    /// <summary>The learning-rate schedule, in steps of the global batch.</summary>
    public required JobSchedule Schedule { get; init; }

    /// <summary>The global gradient-norm clip, or null.</summary>
    public double? GradientClipNorm { get; init; }

    /// <summary>The student's EMA, or null for none.</summary>
    public ModelEmaOptions? Ema { get; init; }

    /// <summary>The training augmentation and the evaluation geometry.</summary>
    public required JobAugmentation Augmentation { get; init; }

    /// <summary>Where the training images are, relative to the job folder.</summary>
    public required JobDataFiles Data { get; init; }

    /// <summary>BatchNorm statistics over all processes (SyncBatchNorm, CUDA only in PyTorch); off: per process.</summary>
    public bool SyncBatchnorm { get; init; }

    /// <summary>On CUDA, the teacher's and the student's forward passes under bfloat16 autocast.</summary>
    public bool Bf16AutocastOnCuda { get; init; } = true;

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Writes <c>job.json</c> into <paramref name="folder"/>, atomically.</summary>
    public void Write(string folder) => AtomicFile.WriteAllText(Path.Combine(folder, FileName), JsonSerializer.Serialize(this, Json));

    /// <summary>Reads a job folder's <c>job.json</c>.</summary>
    /// <exception cref="FileNotFoundException">It is missing.</exception>
    /// <exception cref="InvalidDataException">It is not a job file of this version; the message names it.</exception>
    public static JobSettings Read(string folder)
    {
        var path = Path.Combine(folder, FileName);
        if (!File.Exists(path))
            throw new FileNotFoundException($"'{path}' is missing; scalekd export-job writes it.", path);
        JobSettings? settings;
        try
        {
            settings = JsonSerializer.Deserialize<JobSettings>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not a job file: {e.Message}", e);
        }
        if (settings is null || settings.Format != FormatName || settings.Version != CurrentVersion)
            throw new InvalidDataException($"'{path}' is not a version-{CurrentVersion} {FormatName} file.");
        return settings;
    }
}

/// <summary>A model of the job: its registered name, image size and weights file (relative to the job folder), and for
/// a model imported from ONNX the graph the Python package rebuilds it from.</summary>
public sealed record JobModel(string Model, int ImageSize, string Weights, JobOnnxGraph? Onnx = null);

/// <summary>A model imported from ONNX (<see cref="Models.OnnxCnn"/>) travels as its ONNX file, from which
/// python/scalekd/models/onnx_cnn.py rebuilds the graph with the operators this library's importer runs; the file gives
/// the structure only, the weights (perhaps probed or fine-tuned) come from <see cref="JobModel.Weights"/>.</summary>
/// <param name="File">The ONNX file, relative to the job folder.</param>
/// <param name="Bgr">The graph reads channels in B, G, R order (<see cref="Onnx.OnnxInputConvention.Bgr"/>).</param>
/// <param name="PixelScale">The graph's pixel range: 1 for [0, 1], 255 for [0, 255].</param>
/// <param name="InputMeanShape">The shape of the model's <c>input_mean</c> buffer, null for none (its values are in the
/// weights).</param>
/// <param name="InputStdShape">The shape of the model's <c>input_std</c> buffer, null for none.</param>
public sealed record JobOnnxGraph(string File, bool Bgr, double PixelScale, IReadOnlyList<long>? InputMeanShape, IReadOnlyList<long>? InputStdShape);

/// <summary>The objective's settings as <c>ScaleKDObjective.Settings</c> resolved them (the logit terms for every
/// method), DIST's relation weights, FitNet's hint weight, and the initial weights of the objective's own modules
/// (ScaleKD's projectors, FitNet's regressor).</summary>
public sealed record JobObjective(double KdWeight, double Temperature, double LabelSmoothing, string? Weights = null,
    double SpatialWeight = 0, double FrequencyWeight = 0, int Stage3Heads = 0, int Stage4Heads = 0, double SoftmaxScale = 0,
    bool LayerNormStem = false, bool UseTpp = false, bool UseFrequency = false, double DistBeta = 0, double DistGamma = 0,
    double HintWeight = 0);

/// <summary>The optimizer: AdamW, Lamb or Sgd (with <paramref name="Momentum"/> and <paramref name="Nesterov"/>),
/// with timm's weight-decay grouping.</summary>
public sealed record JobOptimizer(string Kind, double Lr, double WeightDecay, IReadOnlyList<double> Betas, double Eps,
    bool ExcludeOneDimensional, IReadOnlyList<string> NoWeightDecayNames, double? LambMaxGradNorm, double Momentum = 0, bool Nesterov = false);

/// <summary>The schedule in steps: <c>warmup_cosine</c> (<see cref="WarmupCosineSchedule"/>: the warm-up and cosine
/// fields) or <c>step</c> (<see cref="StepDecaySchedule"/>: the peak times <paramref name="Gamma"/> per milestone
/// reached).</summary>
public sealed record JobSchedule(long StepsPerEpoch, long TotalSteps, long WarmupSteps, double InitialLr, double MinLr,
    string Kind = JobSchedule.WarmupCosine, IReadOnlyList<long>? MilestoneSteps = null, double Gamma = 0)
{
    /// <summary>The <see cref="Kind"/> of a warm-up and cosine schedule.</summary>
    public const string WarmupCosine = "warmup_cosine";

    /// <summary>The <see cref="Kind"/> of a step decay.</summary>
    public const string Step = "step";

    /// <summary>The job's form of <paramref name="schedule"/>, a run of <paramref name="stepsPerEpoch"/> × <paramref name="epochs"/> steps.</summary>
    public static JobSchedule Of(ILearningRateSchedule schedule, long stepsPerEpoch, int epochs) => schedule switch
    {
        WarmupCosineSchedule c => new(stepsPerEpoch, c.TotalSteps, c.WarmupSteps, c.WarmupInitialLearningRate, c.MinLearningRate),
        StepDecaySchedule d => new(stepsPerEpoch, stepsPerEpoch * epochs, 0, 0, 0, Step, d.MilestoneSteps, d.Gamma),
        _ => throw new NotSupportedException($"The PyTorch job has no {schedule.GetType().Name}."),
    };
}

/// <summary>The training augmentation in timm's order (random-resized crop, flip, RandAugment, normalisation, random
/// erasing), or none, and the evaluation crop. <paramref name="RandAugment"/> is null without it;
/// <paramref name="Erasing"/> too, or with probability 0.</summary>
public sealed record JobAugmentation(bool Enabled, int ImageSize, IReadOnlyList<double> CropScale, IReadOnlyList<double> CropRatio,
    double Hflip, IReadOnlyList<double> Mean, IReadOnlyList<double> Std, double EvalCropFraction,
    JobRandAugment? RandAugment = null, JobErasing? Erasing = null);

/// <summary>RandAugment's settings (<see cref="Training.Augmentation.RandAugmentOptions"/>), the fill resolved to one
/// value per channel in [0, 1].</summary>
public sealed record JobRandAugment(int OpsPerImage, double Magnitude, double MagnitudeStd, double MagnitudeMax, double Probability,
    bool Increasing, double TranslateFraction, IReadOnlyList<double> Fill);

/// <summary>Random erasing (<see cref="Training.Augmentation.RandomErasing"/>): the probability, the fill mode
/// (<c>pixel</c>, <c>rand</c> or <c>const</c>, timm's names), the box's area fraction and log aspect ratio ranges, and
/// the boxes per erased image.</summary>
public sealed record JobErasing(double Probability, string Mode, IReadOnlyList<double> Area, IReadOnlyList<double> LogAspect,
    IReadOnlyList<int> Count);

/// <summary>The training data: <c>idx</c> (images, labels, optional indices) or <c>manifest</c> (a TSV of label and path,
/// decoded and stored at <paramref name="StorageSize"/>).</summary>
public sealed record JobDataFiles(string Kind, int Count, string? Images = null, string? Labels = null, IReadOnlyList<int>? Indices = null,
    string? Manifest = null, int StorageSize = 0);
