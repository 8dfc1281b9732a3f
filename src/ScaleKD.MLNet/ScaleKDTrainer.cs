using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training;

namespace ScaleKD.MLNet;

/// <summary>
/// Distils a vision-transformer teacher into a small student with ScaleKD (or a baseline) as one step of an ML.NET
/// pipeline. <c>Fit</c> translates the data views into batches and the options into a <see cref="DistillationSpec"/>,
/// has ScaleKD.Torch prepare the teacher (<see cref="TeacherPreparation"/>) and train the student
/// (<see cref="DistillationTrainer"/>), and returns a <see cref="ScaleKDTransformer"/>, which holds only the student.
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

    /// <summary>The input columns plus <c>Score</c> and <c>PredictedLabel</c>, annotated as ML.NET's multiclass trainers
    /// annotate them (the same schema the fitted transformer gives).</summary>
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
        var keyValues = label.Annotations.Where(a => a.Name == AnnotationUtils.Kinds.KeyValues);
        columns[_options.ScoreColumnName] = new SchemaShape.Column(_options.ScoreColumnName, SchemaShape.Column.VectorKind.Vector,
            NumberDataViewType.Single, false, new SchemaShape(AnnotationUtils.AnnotationsForMulticlassScoreColumn(label)));
        columns[_options.PredictedLabelColumnName] = new SchemaShape.Column(_options.PredictedLabelColumnName, SchemaShape.Column.VectorKind.Scalar,
            NumberDataViewType.UInt32, true, new SchemaShape(keyValues.Concat(AnnotationUtils.GetTrainerOutputAnnotation())));
        return new SchemaShape(columns.Values);
    }

    /// <summary>Prepares the teacher, distils the student and returns the scoring transformer.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or of the wrong type; the message names it.</exception>
    /// <exception cref="InvalidDataException">An image cannot be decoded (the message names the row), unless skipping is on.</exception>
    public ScaleKDTransformer Fit(IDataView input)
    {
        _host.CheckValue(input, nameof(input));
        var o = _options;
        var labels = ReadLabels(input.Schema, "training data");
        var spec = o.ToSpec(o.Seed ?? (_host is IHostEnvironmentInternal { Seed: { } contextSeed } ? contextSeed : 0), BackendOptions.From(_host));
        var backend = TorchBackend.Initialize(spec.Backend);
        var preprocessing = StudentPreprocessing.For(spec);
        var train = Batches(input, labels, preprocessing, "training data");
        var validation = o.ValidationSet is null ? null : Batches(o.ValidationSet, labels, preprocessing, nameof(o.ValidationSet));
        // Checked with the other sets, before a teacher trains: a wrong column would otherwise fail after it.
        var teacherTestSet = o.TeacherTestSet is null || o.Method == DistillationMethod.None ? null : Batches(o.TeacherTestSet, labels, preprocessing, nameof(o.TeacherTestSet));

        using var channel = _host.Start(nameof(ScaleKDTrainer));
        spec = spec.ForData(train.Count, out var adapted);
        if (adapted is not null)
            channel.Info($"ScaleKD: {adapted}");
        channel.Info($"ScaleKD: {spec.Method} {spec.Teacher.Model} → {spec.Student}, {train.Count} training images, {labels.Count} classes, {spec.ImageSize} px, {backend.Description}.");
        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(o.CancellationToken);
        using var teacher = spec.Method == DistillationMethod.None ? null
            : PrepareTeacher(spec, train, validation, labels, preprocessing, channel, cancellation);
        var verdict = teacher is null ? null : CheckTeacher(spec, teacher, train, TeacherValidation(labels, preprocessing) ?? validation, channel, cancellation);
        var teacherTest = teacher is null || teacherTestSet is null || cancellation.IsCancellationRequested ? null
            : ScoreTeacher(spec, teacher, teacherTestSet, channel, cancellation.Token);
        var student = StudentFactory.Create(spec, labels.Count, new SynchronousProgress<string>(line => channel.Info($"ScaleKD: {line}")));
        using var progress = new PhaseProgress(_host, channel, o.Progress, "student");
        var result = new DistillationTrainer(spec, () => CheckAlive(cancellation)).Fit(student, teacher?.Model, train, validation, progress, cancellation.Token);
        if (train.SkippedImages > 0)
            channel.Warning($"Skipped {train.SkippedImages} row visits whose image could not be decoded.");
        channel.Info($"ScaleKD: training {result.StopReason.ToString().ToLowerInvariant()} after {result.History.Count} epochs" +
            (result.BestEpoch is { } best ? $"; returning epoch {best}." : "."));
        return new ScaleKDTransformer(_host, student, backend.Device, o.ImageColumnName, o.ScoreColumnName, o.PredictedLabelColumnName,
            labels, preprocessing, o.ScoringBatchSize) { TeacherVerdict = verdict, TeacherTest = teacherTest, TrainingHistory = result.History };
    }

    /// <summary>Judges the teacher before distilling (<see cref="TeacherCheck"/>): a warning in the log, or
    /// <see cref="WeakTeacherException"/> with <see cref="WeakTeacherPolicy.Stop"/>.</summary>
    TeacherVerdict? CheckTeacher(DistillationSpec spec, PreparedTeacher teacher, DataViewBatchSource train, DataViewBatchSource? validation,
        IChannel channel, CancellationTokenSource cancellation)
    {
        // A stop while the teacher was prepared ends the fit with what there is; it is no verdict on the teacher.
        if (spec.TeacherCheck.Policy == WeakTeacherPolicy.Off || cancellation.IsCancellationRequested)
            return null;
        var log = new SynchronousProgress<string>(line => channel.Info($"ScaleKD: {line}"));
        var verdict = TeacherCheck.Run(spec, teacher, train, validation, _options.StudentOnlyValidationTop1, log, () => CheckAlive(cancellation), cancellation.Token);
        if (verdict.TeacherHelps)
            channel.Info($"ScaleKD: {verdict.Message}");
        else if (spec.TeacherCheck.Policy == WeakTeacherPolicy.Stop)
            throw new WeakTeacherException(verdict);
        else
            channel.Warning($"ScaleKD: {verdict.Message}");
        return verdict;
    }

    /// <summary>The teacher's accuracy on <see cref="Options.TeacherTestSet"/>, logged; null when a stop cut it short.</summary>
    static ClassificationResult? ScoreTeacher(DistillationSpec spec, PreparedTeacher teacher, DataViewBatchSource test, IChannel channel, CancellationToken cancellation)
    {
        channel.Info($"ScaleKD: scoring the teacher on {test.Count} test images.");
        try
        {
            var result = TeacherScoring.Evaluate(spec, teacher.Model, test, cancellation);
            channel.Info(FormattableString.Invariant($"ScaleKD: teacher test top-1 {result.Top1:P2}, top-5 {result.Top5:P2} on {test.Count} images."));
            return result;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>The teacher's own validation set, on which its accuracy was measured, when one was given.</summary>
    DataViewBatchSource? TeacherValidation(ClassLabels labels, StudentPreprocessing preprocessing) =>
        _options.TeacherValidationSet is { } data ? Batches(data, labels, preprocessing, nameof(_options.TeacherValidationSet)) : null;

    PreparedTeacher PrepareTeacher(DistillationSpec spec, DataViewBatchSource train, DataViewBatchSource? validation, ClassLabels labels,
        StudentPreprocessing preprocessing, IChannel channel, CancellationTokenSource cancellation)
    {
        var o = _options;
        var teacherTrain = o.TeacherTrainingSet is { } trainData ? Batches(trainData, labels, preprocessing, nameof(o.TeacherTrainingSet)) : train;
        var teacherValidation = o.TeacherValidationSet is { } validationData
            ? Batches(validationData, labels, preprocessing, nameof(o.TeacherValidationSet)) : validation;
        using var progress = new PhaseProgress(_host, channel, o.TeacherProgress, "teacher");
        var log = new SynchronousProgress<string>(line => channel.Info($"ScaleKD: {line}"));
        return new TeacherPreparation(spec, log, progress, () => CheckAlive(cancellation))
            .Prepare(new TeacherData(teacherTrain, teacherValidation, o.TeacherCacheKey), cancellation.Token);
    }

    /// <summary>The host's liveness check (<c>MLContext.CancelExecution</c>), which also cancels the data reads.</summary>
    void CheckAlive(CancellationTokenSource cancellation)
    {
        try
        {
            _host.CheckAlive();
        }
        catch (OperationCanceledException)
        {
            cancellation.Cancel();
            throw;
        }
    }

    /// <summary>A data view as batches, after checking its columns and that its classes are the training data's.</summary>
    DataViewBatchSource Batches(IDataView data, ClassLabels labels, StudentPreprocessing preprocessing, string what)
    {
        var classes = ReadLabels(data.Schema, what);
        _host.CheckParam(classes.Count == labels.Count, what,
            $"its label column has {classes.Count} classes but the training data's has {labels.Count}; build both with the same MapValueToKey.");
        return new DataViewBatchSource(data, ImageColumn.Find(data.Schema, _options.ImageColumnName), _options.LabelColumnName, labels.Names,
            preprocessing.ResizeSize, _options.SkipUndecodableImages);
    }

    /// <summary>Checks the label (Key&lt;UInt32&gt;) and image columns and returns the classes.</summary>
    ClassLabels ReadLabels(DataViewSchema schema, string what)
    {
        var labelColumn = _options.LabelColumnName;
        var label = schema.GetColumnOrNull(labelColumn)
            ?? throw _host.ExceptSchemaMismatch(nameof(schema), "label", labelColumn);
        if (label.Type is not KeyDataViewType { RawType: var raw } key || raw != typeof(uint))
            throw _host.ExceptSchemaMismatch(nameof(schema), "label", labelColumn, "Key<UInt32> (use MapValueToKey)", label.Type.ToString());
        ImageColumn.Find(schema, _options.ImageColumnName);
        var count = checked((int)key.Count);
        _host.CheckParam(count >= 2, nameof(schema), $"the {what}'s label column '{labelColumn}' has {count} class; at least 2 are needed.");
        return ClassLabels.FromKeyColumn(label, count);
    }

    /// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread, in order.</summary>
    sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
