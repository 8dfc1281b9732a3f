using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using ScaleKD.MLNet;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Onnx.Export;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(ScaleKDTransformer), null, typeof(SignatureLoadModel),
    ScaleKDTransformer.UserName, ScaleKDTransformer.LoaderSignature)]

namespace ScaleKD.MLNet;

/// <summary>
/// The distilled student as an ML.NET transformer: scores an image column into <c>Score</c> (class probabilities) and
/// <c>PredictedLabel</c> (the label's key type, its values of the label's own type), with the annotations ML.NET's
/// multiclass trainers set, so <c>MapKeyToValue</c> and the evaluators treat it as one of theirs. It holds only the
/// student and its preprocessing, scores in batches under <c>Transform</c> and row by row under
/// <c>PredictionEngine</c>, and is saved inside an ordinary ML.NET model zip, weights included.
/// </summary>
public sealed class ScaleKDTransformer : ITransformer, IDisposable
{
    internal const string UserName = "ScaleKD Student";
    internal const string LoaderSignature = "ScaleKDTransformer";
    const string WeightsStreamName = "StudentWeights";

    readonly IHost _host;
    readonly EvalTransform _transform;
    bool _disposed;

    internal ScaleKDTransformer(IHostEnvironment env, VisionModel student, Device device, string imageColumnName, string scoreColumnName,
        string predictedLabelColumnName, ClassLabels labels, StudentPreprocessing preprocessing, int scoringBatchSize)
    {
        _host = env.Register(LoaderSignature);
        _host.CheckNonEmpty(imageColumnName, nameof(imageColumnName));
        _host.CheckNonEmpty(scoreColumnName, nameof(scoreColumnName));
        _host.CheckNonEmpty(predictedLabelColumnName, nameof(predictedLabelColumnName));
        _host.CheckParam(scoringBatchSize > 0, nameof(scoringBatchSize), "must be positive");
        _host.CheckParam(labels.Count == student.Options.NumClasses, nameof(labels),
            $"{labels.Count} classes for a student with {student.Options.NumClasses} outputs");
        Student = student;
        Device = device;
        ImageColumnName = imageColumnName;
        ScoreColumnName = scoreColumnName;
        PredictedLabelColumnName = predictedLabelColumnName;
        Labels = labels;
        Preprocessing = preprocessing;
        ScoringBatchSize = scoringBatchSize;
        _transform = preprocessing.CreateTransform();
        student.to(device).eval();
    }

    /// <summary>The student network (a timm-named TorchSharp model).</summary>
    public VisionModel Student { get; }

    /// <summary>The device the student runs on.</summary>
    public Device Device { get; }

    /// <summary>The image column read: MLImage or VBuffer&lt;byte&gt; of an encoded file.</summary>
    public string ImageColumnName { get; }

    /// <summary>The appended column of class probabilities.</summary>
    public string ScoreColumnName { get; }

    /// <summary>The appended predicted-label key column.</summary>
    public string PredictedLabelColumnName { get; }

    /// <summary>The classes as text, by key index − 1 (the label's values, or "1" … "n" for a key without values).</summary>
    public IReadOnlyList<string> ClassNames => Labels.Names;

    /// <summary>The type of the label's values, which <c>PredictedLabel</c>'s key maps back to; null for a key without values.</summary>
    public DataViewType? LabelValueType => Labels.ValueType;

    internal ClassLabels Labels { get; }

    /// <summary>How images are resized and normalised for the student.</summary>
    public StudentPreprocessing Preprocessing { get; }

    /// <summary>Rows scored per forward pass under <c>Transform</c>.</summary>
    public int ScoringBatchSize { get; }

    /// <summary>The check of the teacher before distilling (<see cref="TeacherCheck"/>): its validation accuracy against
    /// chance and the student alone, and whether it was clearly better. Null when there was no teacher or the check was
    /// off, and for a transformer loaded from a zip (the verdict belongs to the fit, not to the model).</summary>
    public TeacherVerdict? TeacherVerdict { get; init; }

    /// <summary>The teacher's loss, top-1 and top-5 on <see cref="ScaleKDTrainer.Options.TeacherTestSet"/>; null when none
    /// was given, there was no teacher, and for a transformer loaded from a zip.</summary>
    public ClassificationResult? TeacherTest { get; init; }

    /// <summary>The fit's epochs, including those a resumed fit's earlier process finished; empty for a transformer
    /// loaded from a zip.</summary>
    public IReadOnlyList<EpochMetrics> TrainingHistory { get; init; } = [];

    bool ITransformer.IsRowToRowMapper => true;

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        _host.CheckValue(inputSchema, nameof(inputSchema));
        ImageColumn.Find(inputSchema, ImageColumnName);
        // A new score set, numbered after any earlier scorer's in the input (as ML.NET's scorers number theirs).
        var scoreSet = inputSchema.GetMaxAnnotationKind(out _, AnnotationUtils.Kinds.ScoreColumnSetId) + 1;
        var score = new DataViewSchema.Annotations.Builder();
        Labels.AddSlotNames(score);
        Labels.AddValues(score, AnnotationUtils.Kinds.TrainingLabelValues);
        AddScoreSet(score, scoreSet, AnnotationUtils.Const.ScoreValueKind.Score);
        var predicted = new DataViewSchema.Annotations.Builder();
        Labels.AddValues(predicted, AnnotationUtils.Kinds.KeyValues);
        AddScoreSet(predicted, scoreSet, AnnotationUtils.Const.ScoreValueKind.PredictedLabel);

        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        builder.AddColumn(ScoreColumnName, new VectorDataViewType(NumberDataViewType.Single, Labels.Count), score.ToAnnotations());
        builder.AddColumn(PredictedLabelColumnName, new KeyDataViewType(typeof(uint), Labels.Count), predicted.ToAnnotations());
        return builder.ToSchema();
    }

    static void AddScoreSet(DataViewSchema.Annotations.Builder builder, uint scoreSet, string valueKind)
    {
        builder.Add(AnnotationUtils.Kinds.ScoreColumnSetId, AnnotationUtils.ScoreColumnSetIdType, (ref uint v) => v = scoreSet);
        builder.Add(AnnotationUtils.Kinds.ScoreColumnKind, TextDataViewType.Instance,
            (ref ReadOnlyMemory<char> v) => v = AnnotationUtils.Const.ScoreColumnKind.MulticlassClassification.AsMemory());
        builder.Add(AnnotationUtils.Kinds.ScoreValueKind, TextDataViewType.Instance, (ref ReadOnlyMemory<char> v) => v = valueKind.AsMemory());
    }

    /// <inheritdoc />
    public IDataView Transform(IDataView input)
    {
        _host.CheckValue(input, nameof(input));
        return new ScoredDataView(input, GetOutputSchema(input.Schema), this);
    }

    /// <inheritdoc />
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) =>
        new ScoringRowMapper(inputSchema, GetOutputSchema(inputSchema), this);

    /// <summary>Writes the student's weights as safetensors with timm parameter names (loadable by timm).</summary>
    public void ExportStudent(string safetensorsPath)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        SafetensorsWeights.Save(Student, safetensorsPath);
    }

    /// <summary>
    /// Writes the student as an ONNX model (opset 17) to <paramref name="path"/>, so that ONNX Runtime scores it without
    /// libtorch. The graph takes float32 RGB pixels in [0, 255] as <c>image</c> (N, 3, S, S), S =
    /// <see cref="StudentPreprocessing.ImageSize"/>, with a dynamic batch axis N, and normalises them inside with
    /// <see cref="Preprocessing"/>'s mean and standard deviation; it outputs <c>probabilities</c> (N, classes), the
    /// softmax in <see cref="ClassNames"/>' order, and <c>label</c> (N), the int64 index of the most probable class.
    /// Resizing and cropping to S × S stay with the caller (see <see cref="StudentPreprocessing"/>). The file is written
    /// atomically: a crash leaves the old file or the new one.
    /// </summary>
    /// <param name="path">The .onnx file to write.</param>
    /// <exception cref="NotSupportedException">The student's architecture has no ONNX exporter; the message names it.</exception>
    public void ExportOnnx(string path)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _host.CheckNonEmpty(path, nameof(path));
        OnnxExport.Write(Student, path, Preprocessing.ToOnnxExportOptions());
    }

    /// <summary>Writes the student as an ONNX model to <paramref name="stream"/>: the graph
    /// <see cref="ExportOnnx(string)"/> writes to a file.</summary>
    /// <param name="stream">A writable stream; it is left open.</param>
    /// <exception cref="NotSupportedException">The student's architecture has no ONNX exporter; the message names it.</exception>
    public void ExportOnnx(Stream stream)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _host.CheckValue(stream, nameof(stream));
        _host.CheckParam(stream.CanWrite, nameof(stream), "must be writable");
        OnnxExport.Write(Student, stream, Preprocessing.ToOnnxExportOptions());
    }

    /// <summary>Class probabilities for each image (3, H, W) in [0, 1], in one forward pass.</summary>
    internal float[][] ScoreBatch(IReadOnlyList<Tensor> images)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var batch = _transform.Apply(images).to(Device);
        var probabilities = nn.functional.softmax(Student.forward(batch), 1).cpu().data<float>().ToArray();
        var classes = Labels.Count;
        return Enumerable.Range(0, images.Count).Select(i => probabilities.AsSpan(i * classes, classes).ToArray()).ToArray();
    }

    // *** Binary format, version 0x00010003 ***
    // strings: image, score and predicted-label column names; string: student model name
    // ints: class count, image size, input channels, scoring batch size
    // doubles: mean (3), std (3), crop fraction
    // int: the label values' type (an index into ClassLabels' table; −1: the key has no values)
    // the label values (class count of them, in that type; text in the string table)
    // binary stream "StudentWeights": the student's state dict as safetensors (timm names)
    // Version 0x00010002 (read still) had strings for the class names instead of the type and values: every label as text.
    const uint TextLabelsVersion = 0x00010002;
    const uint TypedLabelsVersion = 0x00010003;

    static VersionInfo GetVersionInfo() => new(
        modelSignature: "SKDSTUDT",
        verWrittenCur: TypedLabelsVersion,
        verReadableCur: TypedLabelsVersion,
        verWeCanReadBack: TextLabelsVersion,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(ScaleKDTransformer).Assembly.FullName);

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        _host.CheckValue(ctx, nameof(ctx));
        ObjectDisposedException.ThrowIf(_disposed, this);
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.SaveNonEmptyString(ImageColumnName);
        ctx.SaveNonEmptyString(ScoreColumnName);
        ctx.SaveNonEmptyString(PredictedLabelColumnName);
        ctx.SaveNonEmptyString(Student.GetName());
        ctx.Writer.Write(Labels.Count);
        ctx.Writer.Write(Preprocessing.ImageSize);
        ctx.Writer.Write(Student.Options.InChannels);
        ctx.Writer.Write(ScoringBatchSize);
        foreach (var value in Preprocessing.Mean.Concat(Preprocessing.Std).Append(Preprocessing.CropFraction))
            ctx.Writer.Write(value);
        Labels.Save(ctx);
        var weights = SafetensorsWeights.ToBytes(Student);
        ctx.SaveBinaryStream(WeightsStreamName, writer =>
        {
            writer.Write(weights.Length);
            writer.Write(weights);
        });
    }

    /// <summary>Loader called by ML.NET's component catalog when a zip that holds this transformer is loaded.</summary>
    static ScaleKDTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(GetVersionInfo());
        var imageColumn = ctx.LoadNonEmptyString();
        var scoreColumn = ctx.LoadNonEmptyString();
        var predictedColumn = ctx.LoadNonEmptyString();
        var studentName = ctx.LoadNonEmptyString();
        var classCount = ctx.Reader.ReadInt32();
        var imageSize = ctx.Reader.ReadInt32();
        var inChannels = ctx.Reader.ReadInt32();
        var batchSize = ctx.Reader.ReadInt32();
        var numbers = Enumerable.Range(0, 7).Select(_ => ctx.Reader.ReadDouble()).ToArray();
        var labels = ctx.Header.ModelVerWritten == TextLabelsVersion
            ? ClassLabels.FromNames(Enumerable.Range(0, classCount).Select(_ => ctx.LoadString()).ToArray())
            : ClassLabels.Load(ctx, classCount);
        if (!ModelRegistry.Names.Contains(studentName))
            throw new InvalidDataException($"The model zip holds a '{studentName}' student, which this version of ScaleKD.MLNet does not know.");

        byte[]? weights = null;
        if (!ctx.TryLoadBinaryStream(WeightsStreamName, reader => weights = ReadLengthPrefixed(reader)))
            throw new InvalidDataException($"The model zip has no '{WeightsStreamName}' entry for the ScaleKD student.");
        var backend = TorchBackend.Initialize(BackendOptions.From(env));
        var student = ModelRegistry.Create(studentName, new ModelOptions(classCount, imageSize, inChannels));
        try
        {
            SafetensorsWeights.LoadBytes(student, weights!, $"the model zip entry '{WeightsStreamName}'");
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IOException or InvalidOperationException)
        {
            student.Dispose();
            throw new InvalidDataException($"The model zip entry '{WeightsStreamName}' does not hold valid weights for '{studentName}': {e.Message}", e);
        }
        var preprocessing = new StudentPreprocessing(imageSize, numbers[..3], numbers[3..6], numbers[6]);
        return new ScaleKDTransformer(env, student, backend.Device, imageColumn, scoreColumn, predictedColumn, labels, preprocessing, batchSize);
    }

    static byte[] ReadLengthPrefixed(BinaryReader reader)
    {
        try
        {
            var length = reader.ReadInt32();
            var bytes = reader.ReadBytes(length);
            return bytes.Length == length
                ? bytes
                : throw new InvalidDataException($"The model zip entry '{WeightsStreamName}' is truncated: {bytes.Length} of {length} bytes.");
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException($"The model zip entry '{WeightsStreamName}' is truncated.", e);
        }
    }

    /// <summary>Frees the student's native (libtorch) memory.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        Student.Dispose();
    }
}
