using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using ScaleKD.MLNet;
using ScaleKD.Torch.Native;
using TorchSharp;
using static TorchSharp.torch;

[assembly: LoadableClass(typeof(ScaleKDTransformer), null, typeof(SignatureLoadModel),
    ScaleKDTransformer.UserName, ScaleKDTransformer.LoaderSignature)]

namespace ScaleKD.MLNet;

/// <summary>
/// Scores rows with a TorchSharp classifier and appends a <c>Score</c> column of class probabilities. It is saved
/// inside an ordinary ML.NET model zip (weights included) and loads with plain <c>MLContext.Model.Load</c>.
/// </summary>
/// <remarks>
/// Foundation form: the classifier is a linear layer over a float-vector column. The persistence, schema and cursor
/// plumbing here is what the distilled student will use.
/// </remarks>
public sealed class ScaleKDTransformer : ITransformer, IDisposable
{
    internal const string UserName = "ScaleKD Student Scorer";
    internal const string LoaderSignature = "ScaleKDTransformer";
    const string WeightsStreamName = "StudentWeights";

    readonly IHost _host;
    readonly nn.Module<Tensor, Tensor> _model;
    readonly Device _device;
    bool _disposed;

    /// <summary>The float-vector column the classifier reads.</summary>
    public string InputColumnName { get; }

    /// <summary>The column of class probabilities this transformer appends.</summary>
    public string ScoreColumnName { get; }

    /// <summary>Length of the input vector.</summary>
    public int InputSize { get; }

    /// <summary>Number of classes, the length of the score vector.</summary>
    public int ClassCount { get; }

    bool ITransformer.IsRowToRowMapper => true;

    internal ScaleKDTransformer(IHostEnvironment env, string inputColumnName, string scoreColumnName, int inputSize, int classCount)
        : this(env, inputColumnName, scoreColumnName, inputSize, classCount, weights: null)
    {
    }

    ScaleKDTransformer(IHostEnvironment env, string inputColumnName, string scoreColumnName, int inputSize, int classCount, BinaryReader? weights)
    {
        _host = env.Register(LoaderSignature);
        _host.CheckNonEmpty(inputColumnName, nameof(inputColumnName));
        _host.CheckNonEmpty(scoreColumnName, nameof(scoreColumnName));
        _host.CheckParam(inputSize > 0, nameof(inputSize), "must be positive");
        _host.CheckParam(classCount > 1, nameof(classCount), "must be at least 2");
        InputColumnName = inputColumnName;
        ScoreColumnName = scoreColumnName;
        InputSize = inputSize;
        ClassCount = classCount;
        _device = TorchBackend.Initialize().Device;
        _model = nn.Linear(inputSize, classCount);
        if (weights is not null)
            _model.load(weights, strict: true);
        _model.to(_device).eval();
    }

    /// <inheritdoc />
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        _host.CheckValue(inputSchema, nameof(inputSchema));
        CheckInputColumn(inputSchema);
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(inputSchema);
        builder.AddColumn(ScoreColumnName, new VectorDataViewType(NumberDataViewType.Single, ClassCount));
        return builder.ToSchema();
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

    internal int InputColumnIndex(DataViewSchema schema) => CheckInputColumn(schema).Index;

    DataViewSchema.Column CheckInputColumn(DataViewSchema schema)
    {
        var column = schema.GetColumnOrNull(InputColumnName)
            ?? throw _host.ExceptSchemaMismatch(nameof(schema), "input", InputColumnName);
        if (column.Type is not VectorDataViewType { ItemType: NumberDataViewType n } vector || n != NumberDataViewType.Single || vector.Size != InputSize)
            throw _host.ExceptSchemaMismatch(nameof(schema), "input", InputColumnName, $"Vector<Single, {InputSize}>", column.Type.ToString());
        return column;
    }

    /// <summary>Scores one input vector into <paramref name="scores"/> (class probabilities).</summary>
    internal void Score(in VBuffer<float> features, ref VBuffer<float> scores)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var dense = new float[InputSize];
        features.CopyTo(dense);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var probabilities = nn.functional.softmax(_model.forward(tensor(dense, [1, InputSize], device: _device)), 1).cpu();
        var editor = VBufferEditor.Create(ref scores, ClassCount);
        probabilities.data<float>().CopyTo(editor.Values);
        scores = editor.Commit();
    }

    // *** Binary format, version 0x00010001 ***
    // string: input column name; string: score column name; int: input size; int: class count
    // binary stream "StudentWeights": TorchSharp module state
    static VersionInfo GetVersionInfo() => new(
        modelSignature: "SKDSTUDT",
        verWrittenCur: 0x00010001,
        verReadableCur: 0x00010001,
        verWeCanReadBack: 0x00010001,
        loaderSignature: LoaderSignature,
        loaderAssemblyName: typeof(ScaleKDTransformer).Assembly.FullName);

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        _host.CheckValue(ctx, nameof(ctx));
        ObjectDisposedException.ThrowIf(_disposed, this);
        ctx.CheckAtModel();
        ctx.SetVersionInfo(GetVersionInfo());
        ctx.SaveNonEmptyString(InputColumnName);
        ctx.SaveNonEmptyString(ScoreColumnName);
        ctx.Writer.Write(InputSize);
        ctx.Writer.Write(ClassCount);
        ctx.SaveBinaryStream(WeightsStreamName, writer => _model.save(writer));
    }

    /// <summary>Loader called by ML.NET's component catalog when a zip that holds this transformer is loaded.</summary>
    static ScaleKDTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ctx.CheckAtModel(GetVersionInfo());
        var inputColumnName = ctx.LoadNonEmptyString();
        var scoreColumnName = ctx.LoadNonEmptyString();
        var inputSize = ctx.Reader.ReadInt32();
        var classCount = ctx.Reader.ReadInt32();
        ScaleKDTransformer? result = null;
        var found = ctx.TryLoadBinaryStream(WeightsStreamName, reader =>
        {
            try
            {
                result = new ScaleKDTransformer(env, inputColumnName, scoreColumnName, inputSize, classCount, reader);
            }
            catch (Exception e) when (e is ArgumentException or IOException or InvalidOperationException)
            {
                throw new InvalidDataException($"The model entry '{WeightsStreamName}' does not hold valid student weights: {e.Message}", e);
            }
        });
        return found && result is not null
            ? result
            : throw new InvalidDataException($"The model zip has no '{WeightsStreamName}' entry for the ScaleKD student.");
    }

    /// <summary>Frees the student's native (libtorch) memory.</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _model.Dispose();
    }
}
