using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Transforms.Image;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Teachers;
using TorchSharp;
using Normalize = ScaleKD.Torch.Training.Augmentation.Normalize;

namespace ScaleKD.MLNet;

/// <summary>
/// Distils a vision-transformer teacher into a small student with ScaleKD (or a baseline) as one step of an ML.NET
/// pipeline. <c>Fit</c> streams the images, prepares the teacher (imports it, probes its head, or trains it), trains
/// the student and returns a <see cref="ScaleKDTransformer"/>, which holds only the student.
/// </summary>
public sealed partial class ScaleKDTrainer : IEstimator<ScaleKDTransformer>
{
    readonly IHost _host;
    readonly Options _options;

    internal ScaleKDTrainer(IHostEnvironment env, Options options)
    {
        _host = env.Register(nameof(ScaleKDTrainer));
        _host.CheckValue(options, nameof(options));
        _host.CheckNonEmpty(options.LabelColumnName, nameof(options.LabelColumnName));
        _host.CheckNonEmpty(options.ImageColumnName, nameof(options.ImageColumnName));
        _host.CheckNonEmpty(options.ScoreColumnName, nameof(options.ScoreColumnName));
        _host.CheckNonEmpty(options.PredictedLabelColumnName, nameof(options.PredictedLabelColumnName));
        _host.CheckNonEmpty(options.Student, nameof(options.Student));
        _host.CheckParam(ModelRegistry.Names.Contains(options.Student), nameof(options.Student),
            $"'{options.Student}' is not a known model. Known models: {string.Join(", ", ModelRegistry.Names)}.");
        _host.CheckParam(options.Method == DistillationMethod.None || ModelRegistry.Names.Contains(options.Teacher), nameof(options.Teacher),
            $"'{options.Teacher}' is not a known model. Known models: {string.Join(", ", ModelRegistry.Names)}.");
        _host.CheckParam(options.ImageSize > 0, nameof(options.ImageSize), "must be positive");
        _host.CheckParam(options.Epochs > 0, nameof(options.Epochs), "must be positive");
        _host.CheckParam(options.BatchSize > 0, nameof(options.BatchSize), "must be positive");
        _host.CheckParam(options.TeacherEpochs > 0, nameof(options.TeacherEpochs), "must be positive");
        _host.CheckParam(options.ScoringBatchSize > 0, nameof(options.ScoringBatchSize), "must be positive");
        _options = options;
    }

    /// <inheritdoc />
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        _host.CheckValue(inputSchema, nameof(inputSchema));
        if (!inputSchema.TryFindColumn(_options.LabelColumnName, out var label))
            throw _host.ExceptSchemaMismatch(nameof(inputSchema), "label", _options.LabelColumnName);
        if (!label.IsKey || label.Kind != SchemaShape.Column.VectorKind.Scalar || label.ItemType.RawType != typeof(uint))
            throw _host.ExceptSchemaMismatch(nameof(inputSchema), "label", _options.LabelColumnName, "Key<UInt32> (use MapValueToKey)", label.GetTypeString());
        if (!inputSchema.TryFindColumn(_options.ImageColumnName, out var image))
            throw _host.ExceptSchemaMismatch(nameof(inputSchema), "image", _options.ImageColumnName);
        if (!ImageColumn.Accepts(image.Kind != SchemaShape.Column.VectorKind.Scalar, image.ItemType))
            throw _host.ExceptSchemaMismatch(nameof(inputSchema), "image", _options.ImageColumnName, ImageColumn.AcceptedTypes, image.GetTypeString());

        var columns = inputSchema.ToDictionary(c => c.Name);
        var slotNames = new SchemaShape([new SchemaShape.Column(AnnotationUtils.Kinds.SlotNames, SchemaShape.Column.VectorKind.Vector, TextDataViewType.Instance, false)]);
        var keyValues = new SchemaShape([new SchemaShape.Column(AnnotationUtils.Kinds.KeyValues, SchemaShape.Column.VectorKind.Vector, TextDataViewType.Instance, false)]);
        columns[_options.ScoreColumnName] = new SchemaShape.Column(_options.ScoreColumnName, SchemaShape.Column.VectorKind.Vector, NumberDataViewType.Single, false, slotNames);
        columns[_options.PredictedLabelColumnName] = new SchemaShape.Column(_options.PredictedLabelColumnName, SchemaShape.Column.VectorKind.Scalar, NumberDataViewType.UInt32, true, keyValues);
        return new SchemaShape(columns.Values);
    }

    /// <summary>Prepares the teacher, distils the student and returns the scoring transformer.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or of the wrong type; the message names it.</exception>
    /// <exception cref="InvalidDataException">An image cannot be decoded (the message names the row), unless skipping is on.</exception>
    public ScaleKDTransformer Fit(IDataView input)
    {
        _host.CheckValue(input, nameof(input));
        var o = _options;
        var classNames = CheckInput(input.Schema, o.LabelColumnName, o.ImageColumnName, "training data");
        if (o.ValidationSet is not null)
            CheckClasses(o.ValidationSet, classNames.Count, nameof(o.ValidationSet));
        var backend = TorchBackend.Initialize(BackendOptions.From(_host));
        var seed = o.Seed ?? (_host is IHostEnvironmentInternal { Seed: { } contextSeed } ? contextSeed : 0);
        var augmentation = o.Augmentation ?? new AugmentationOptions { ImageSize = o.ImageSize };
        var preprocessing = new StudentPreprocessing(o.ImageSize, augmentation.Mean, augmentation.Std, augmentation.EffectiveEvalCropFraction);
        var image = ImageColumn.Find(input.Schema, o.ImageColumnName);
        var train = new DataViewBatchSource(input, image, o.LabelColumnName, classNames, preprocessing.StorageSize, o.SkipUndecodableImages);
        var validation = o.ValidationSet is null ? null
            : new DataViewBatchSource(o.ValidationSet, ImageColumn.Find(o.ValidationSet.Schema, o.ImageColumnName), o.LabelColumnName, classNames, preprocessing.StorageSize, o.SkipUndecodableImages);

        using var channel = _host.Start(nameof(ScaleKDTrainer));
        channel.Info($"ScaleKD: {o.Method} {o.Teacher} → {o.Student}, {train.Count} training images, {classNames.Count} classes, {o.ImageSize} px, {backend.Description}.");
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(o.CancellationToken);
        using var cancelWatch = new Timer(_ => { if (_host is ICancelable { IsCanceled: true }) cancellation.Cancel(); }, null, 100, 100);
        var progress = new ChannelProgress(channel, o.Progress, o.TeacherProgress);
        var modelOptions = new ModelOptions(classNames.Count, o.ImageSize);

        var teacherTrain = o.TeacherTrainingSet is null ? train
            : new DataViewBatchSource(o.TeacherTrainingSet, ImageColumn.Find(o.TeacherTrainingSet.Schema, o.ImageColumnName), o.LabelColumnName,
                CheckClasses(o.TeacherTrainingSet, classNames.Count, nameof(o.TeacherTrainingSet)), preprocessing.StorageSize, o.SkipUndecodableImages);
        using var teacher = o.Method == DistillationMethod.None ? null
            : PrepareTeacher(modelOptions, classNames, teacherTrain, validation, seed, backend, channel, progress, cancellation.Token);
        var student = CreateSeeded(o.Student, modelOptions, seed);
        var result = new DistillationTrainer(o.ToDistillationOptions(o.Method, o.Epochs, seed, o.CheckpointDirectory, BackendOptions.From(_host), o.Optimizer))
            .Fit(student, teacher, train, validation, progress, cancellation.Token);
        if (train.SkippedImages > 0)
            channel.Warning($"Skipped {train.SkippedImages} row visits whose image could not be decoded.");
        channel.Info($"ScaleKD: training {result.StopReason.ToString().ToLowerInvariant()} after {result.History.Count} epochs" +
            (result.BestEpoch is { } best ? $"; returning epoch {best}." : "."));
        return new ScaleKDTransformer(_host, student, backend.Device, o.ImageColumnName, o.ScoreColumnName, o.PredictedLabelColumnName,
            classNames, preprocessing, o.ScoringBatchSize);
    }

    /// <summary>A model whose random initialisation comes from <paramref name="seed"/>, not from whatever the process's
    /// generator last did, so that a fit repeats.</summary>
    static VisionModel CreateSeeded(string name, ModelOptions options, int seed)
    {
        torch.manual_seed(seed);
        return ModelRegistry.Create(name, options);
    }

    VisionModel PrepareTeacher(ModelOptions modelOptions, IReadOnlyList<string> classNames, DataViewBatchSource train, DataViewBatchSource? validation,
        int seed, TorchBackendInfo backend, IChannel channel, ChannelProgress progress, CancellationToken cancellationToken)
    {
        var o = _options;
        if (o.TeacherWeightsPath is { } path)
        {
            if (File.Exists(Path.ChangeExtension(path, ".json")))
            {
                var (saved, description) = TeacherFiles.Load(path);
                if (saved.Options.NumClasses != classNames.Count || saved.Options.ImageSize != o.ImageSize)
                    throw new InvalidDataException($"The saved teacher '{path}' has {saved.Options.NumClasses} classes at {saved.Options.ImageSize} px; this data needs {classNames.Count} at {o.ImageSize} px.");
                channel.Info($"ScaleKD: loaded the saved teacher {description.Model} from {path}" +
                    (description.ValidationTop1 is { } top1 ? $" (validation top-1 {top1:P1} when saved)." : "."));
                return saved.to(backend.Device);
            }
            var teacher = CreateSeeded(o.Teacher, modelOptions, seed + 1);
            var import = TeacherWeights.Import(teacher, path);
            teacher.to(backend.Device);
            if (!import.ClassifierLoaded)
            {
                channel.Info($"ScaleKD: the teacher's head ({string.Join(", ", import.SkippedKeys)}) does not fit {classNames.Count} classes; fitting a linear probe.");
                var evaluation = new StudentPreprocessing(o.ImageSize, o.Augmentation?.Mean ?? Normalize.ImageNetMean, o.Augmentation?.Std ?? Normalize.ImageNetStd, 1.0).CreateTransform();
                var probe = LinearProbe.Fit(teacher, train, validation, batch => evaluation.Apply(batch).to(backend.Device), o.LinearProbe,
                    new Progress<string>(channel.Info), cancellationToken);
                channel.Info($"ScaleKD: linear probe: train top-1 {probe.TrainTop1:P1}" + (probe.ValidationTop1 is { } v ? $", validation top-1 {v:P1}." : "."));
            }
            return teacher;
        }

        channel.Info($"ScaleKD: no teacher weights given; training {o.Teacher} from scratch for {o.TeacherEpochs} epochs.");
        var fresh = CreateSeeded(o.Teacher, modelOptions, seed + 1);
        var teacherRun = new DistillationTrainer(o.ToDistillationOptions(DistillationMethod.None, o.TeacherEpochs, seed, checkpointDirectory: null, BackendOptions.From(_host),
                o.TeacherOptimizer ?? o.Optimizer))
            .Fit(fresh, null, train, validation, progress.ForTeacher(), cancellationToken);
        var accuracy = teacherRun.History.LastOrDefault(h => h.Epoch == (teacherRun.BestEpoch ?? h.Epoch))?.ValidationTop1;
        channel.Info($"ScaleKD: teacher trained" + (accuracy is { } a ? $", validation top-1 {a:P1}." : "."));
        if (o.TeacherOutputPath is { } output)
            TeacherFiles.Save(fresh, new TeacherDescription(o.Teacher, modelOptions, classNames, accuracy), output);
        return fresh;
    }

    /// <summary>Checks another data view's columns and that its labels have the training data's classes.</summary>
    IReadOnlyList<string> CheckClasses(IDataView data, int classCount, string option)
    {
        var classes = CheckInput(data.Schema, _options.LabelColumnName, _options.ImageColumnName, option);
        _host.CheckParam(classes.Count == classCount, option,
            $"its label column has {classes.Count} classes but the training data's has {classCount}; build both with the same MapValueToKey.");
        return classes;
    }

    /// <summary>Checks the label (Key&lt;UInt32&gt;) and image columns and returns the class names.</summary>
    IReadOnlyList<string> CheckInput(DataViewSchema schema, string labelColumn, string imageColumn, string what)
    {
        var label = schema.GetColumnOrNull(labelColumn)
            ?? throw _host.ExceptSchemaMismatch(nameof(schema), "label", labelColumn);
        if (label.Type is not KeyDataViewType { RawType: var raw } key || raw != typeof(uint))
            throw _host.ExceptSchemaMismatch(nameof(schema), "label", labelColumn, "Key<UInt32> (use MapValueToKey)", label.Type.ToString());
        ImageColumn.Find(schema, imageColumn);
        var count = checked((int)key.Count);
        _host.CheckParam(count >= 2, nameof(schema), $"the {what}'s label column '{labelColumn}' has {count} class; at least 2 are needed.");
        VBuffer<ReadOnlyMemory<char>> names = default;
        if (label.Annotations.Schema.GetColumnOrNull(AnnotationUtils.Kinds.KeyValues) is { Type: VectorDataViewType { ItemType: TextDataViewType } } keyValues)
        {
            label.Annotations.GetValue(keyValues.Name, ref names);
            return names.DenseValues().Select(n => n.ToString()).ToArray();
        }
        return Enumerable.Range(1, count).Select(i => i.ToString()).ToArray();
    }

    /// <summary>Writes progress to ML.NET's channel (epoch summaries as info, step reports as trace) and forwards it.</summary>
    sealed class ChannelProgress(IChannel channel, IProgress<DistillationProgress>? user, IProgress<DistillationProgress>? teacher, string role = "student")
        : IProgress<DistillationProgress>
    {
        public ChannelProgress ForTeacher() => new(channel, teacher, null, "teacher");

        public void Report(DistillationProgress value)
        {
            var losses = string.Join(", ", value.Losses.Select(l => $"{l.Key} {l.Value:F4}"));
            if (value.Finished is { } epoch)
                channel.Info($"ScaleKD {role} epoch {epoch.Epoch}/{value.Epochs}: loss {epoch.TrainLoss:F4}, train top-1 {epoch.TrainTop1:P1}" +
                    (epoch.ValidationTop1 is { } top1 ? $", validation top-1 {top1:P1}, top-5 {epoch.ValidationTop5:P1}" : "") +
                    $", {epoch.ImagesPerSecond:F0} img/s, {epoch.Seconds:F0} s");
            else
                channel.Trace($"ScaleKD {role} epoch {value.Epoch}/{value.Epochs} step {value.Step}/{value.StepsPerEpoch}: {losses}; lr {value.LearningRate:G3}; {value.ImagesPerSecond:F0} img/s; ETA {value.Remaining:hh\\:mm\\:ss}");
            user?.Report(value);
        }
    }
}
