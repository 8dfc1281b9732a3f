using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.MLNet;

namespace ScaleKD.WebApi;

/// <summary>
/// The ScaleKD student of a model zip, scoring uploaded image files. The zip's pipeline starts from an image path; the
/// web API has the file's bytes instead, so only the zip's <see cref="ScaleKDTransformer"/> is used, fed with the
/// encoded bytes as a Vector&lt;Byte&gt; column, which it decodes itself. PredictionEngine is not thread-safe, so each
/// prediction rents one from a pool; all engines share the one loaded model (OwnsTransformer = false), which this
/// class disposes last.
/// </summary>
public sealed class ImageClassifier : IDisposable
{
    readonly ITransformer _loaded;
    readonly ScaleKDTransformer _student;
    readonly ObjectPool<PredictionEngine<ImageInput, ScoreOutput>> _engines;
    readonly SemaphoreSlim _slots;

    ImageClassifier(ITransformer loaded, ScaleKDTransformer student, MLContext ml, int concurrency)
    {
        _loaded = loaded;
        _student = student;
        var policy = new EnginePolicy(ml, student);
        // ObjectPool never blocks: it creates an engine when none is free. The semaphore keeps at most `concurrency`
        // engines rented, so the pool never makes more than it retains, and extra requests queue instead of
        // oversubscribing the cores.
        _engines = new DefaultObjectPoolProvider { MaximumRetained = concurrency }.Create(policy);
        _slots = new SemaphoreSlim(concurrency, concurrency);
    }

    public IReadOnlyList<string> ClassNames => _student.ClassNames;
    public string StudentName => _student.Student.GetName();
    public int ImageSize => _student.Preprocessing.ImageSize;

    /// <summary>Loads the zip and finds its ScaleKD step; every failure names the path and says what is wrong.</summary>
    public static ImageClassifier Load(string modelPath, int concurrency)
    {
        if (string.IsNullOrWhiteSpace(modelPath))
            throw new InvalidOperationException(
                "No model configured: set ScaleKD:ModelPath (environment variable ScaleKD__ModelPath) to a model zip saved from a ScaleKD pipeline.");
        var fullPath = Path.GetFullPath(modelPath);
        if (!File.Exists(fullPath))
            throw new FileNotFoundException($"The model zip '{fullPath}' (ScaleKD:ModelPath) does not exist.", fullPath);
        var ml = new MLContext();
        ITransformer loaded;
        try
        {
            loaded = ml.Model.Load(fullPath, out _);
        }
        catch (Exception e)
        {
            throw new InvalidDataException($"The model zip '{fullPath}' (ScaleKD:ModelPath) could not be loaded: {e.Message}", e);
        }
        var students = loaded is IEnumerable<ITransformer> chain ? chain.OfType<ScaleKDTransformer>().ToList() : [];
        if (loaded is ScaleKDTransformer single)
            students.Add(single);
        if (students.Count != 1)
        {
            (loaded as IDisposable)?.Dispose();
            throw new InvalidDataException($"The model zip '{fullPath}' holds {students.Count} ScaleKD students; this API serves a zip with exactly one.");
        }
        return new ImageClassifier(loaded, students[0], ml, concurrency);
    }

    /// <summary>Class probabilities of an encoded image (PNG, JPEG…), in the order of <see cref="ClassNames"/>.</summary>
    /// <exception cref="InvalidDataException">The bytes do not decode to an image.</exception>
    public async Task<float[]> ScoreAsync(byte[] encodedImage, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken);
        try
        {
            var engine = _engines.Get();
            try
            {
                return engine.Predict(new ImageInput { Image = encodedImage }).Score;
            }
            finally
            {
                _engines.Return(engine);
            }
        }
        finally
        {
            _slots.Release();
        }
    }

    public void Dispose()
    {
        // The pool disposes the engines it holds; they do not own the model, which goes last.
        (_engines as IDisposable)?.Dispose();
        (_loaded as IDisposable)?.Dispose();
        _slots.Dispose();
    }

    public sealed class ImageInput
    {
        /// <summary>An encoded image file: a byte array is a Vector&lt;Byte&gt; column to ML.NET.</summary>
        public byte[] Image { get; set; } = [];
    }

    public sealed class ScoreOutput
    {
        public float[] Score { get; set; } = [];
    }

    sealed class EnginePolicy(MLContext ml, ScaleKDTransformer student) : IPooledObjectPolicy<PredictionEngine<ImageInput, ScoreOutput>>
    {
        public PredictionEngine<ImageInput, ScoreOutput> Create()
        {
            // The zip may name its columns otherwise; the input and output classes are mapped onto its names.
            var input = SchemaDefinition.Create(typeof(ImageInput));
            input[nameof(ImageInput.Image)].ColumnName = student.ImageColumnName;
            var output = SchemaDefinition.Create(typeof(ScoreOutput));
            output[nameof(ScoreOutput.Score)].ColumnName = student.ScoreColumnName;
            return ml.Model.CreatePredictionEngine<ImageInput, ScoreOutput>(student, new PredictionEngineOptions
            {
                OwnsTransformer = false,
                InputSchemaDefinition = input,
                OutputSchemaDefinition = output,
            });
        }

        public bool Return(PredictionEngine<ImageInput, ScoreOutput> engine) => true;
    }
}
