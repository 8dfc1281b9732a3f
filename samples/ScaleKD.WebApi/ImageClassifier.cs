using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;

namespace ScaleKD.WebApi;

/// <summary>
/// The student of a model zip, scoring uploaded image files. Either kind of zip is served: a ScaleKD zip
/// (<see cref="ScaleKDZip"/>, scored by TorchSharp; built only when the app references ScaleKD.MLNet) or the stock
/// zip of <c>scalekd export</c> (<see cref="StockZip"/>, scored by ONNX Runtime through stock ML.NET). Each kind gives a
/// factory of scorers, one PredictionEngine each; PredictionEngine is not thread-safe, so each prediction rents one
/// from a pool, and all share the one loaded model, which this class disposes last.
/// </summary>
public sealed class ImageClassifier : IDisposable
{
    readonly IDisposable? _loaded;
    readonly ObjectPool<IImageScorer> _scorers;
    readonly SemaphoreSlim _slots;

    ImageClassifier(IDisposable? loaded, ServedModel served, int concurrency)
    {
        _loaded = loaded;
        Model = served;
        // ObjectPool never blocks: it creates a scorer when none is free. The semaphore keeps at most `concurrency`
        // scorers rented, so the pool never makes more than it retains, and extra requests queue instead of
        // oversubscribing the cores.
        _scorers = new DefaultObjectPoolProvider { MaximumRetained = concurrency }.Create(new ScorerPolicy(served.CreateScorer));
        _slots = new SemaphoreSlim(concurrency, concurrency);
    }

    /// <summary>What is served: the kind of zip, the student, its classes and image size.</summary>
    public ServedModel Model { get; }

    public IReadOnlyList<string> ClassNames => Model.ClassNames;

    /// <summary>Loads the zip and picks its kind; every failure names the path and says what is wrong.</summary>
    public static ImageClassifier Load(string modelPath, int concurrency)
    {
        if (string.IsNullOrWhiteSpace(modelPath))
            throw new InvalidOperationException(
                "No model configured: set ScaleKD:ModelPath (environment variable ScaleKD__ModelPath) to a model zip saved from a ScaleKD pipeline or written by scalekd export.");
        var fullPath = Path.GetFullPath(modelPath);
        if (!File.Exists(fullPath))
            throw new FileNotFoundException($"The model zip '{fullPath}' (ScaleKD:ModelPath) does not exist.", fullPath);
        var ml = new MLContext();
        ITransformer loaded;
        DataViewSchema inputSchema;
        try
        {
            loaded = ml.Model.Load(fullPath, out inputSchema);
        }
        catch (Exception e)
        {
            // ML.NET calls each step's loader by reflection; the cause is the innermost exception.
            var cause = e;
            while (cause is System.Reflection.TargetInvocationException { InnerException: { } inner })
                cause = inner;
#if SERVE_SCALEKD
            const string hint = "";
#else
            const string hint = " This build serves only zips written by scalekd export (it was built with -p:ServeScaleKD=false).";
#endif
            throw new InvalidDataException($"The model zip '{fullPath}' (ScaleKD:ModelPath) could not be loaded: {cause.Message}{hint}", e);
        }
        try
        {
            var served = StockZip.TryOpen(ml, loaded, inputSchema)
#if SERVE_SCALEKD
                ?? ScaleKDZip.Open(ml, loaded, fullPath);
#else
                ?? throw new InvalidDataException(
                    $"The model zip '{fullPath}' is not a zip written by scalekd export; this build serves only those (build without -p:ServeScaleKD=false to serve ScaleKD zips).");
#endif
            return new ImageClassifier(loaded as IDisposable, served, concurrency);
        }
        catch
        {
            (loaded as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>Class probabilities of an encoded image (PNG, JPEG…), in the order of <see cref="ClassNames"/>.</summary>
    /// <exception cref="InvalidDataException">The bytes do not decode to an image.</exception>
    public async Task<float[]> ScoreAsync(byte[] encodedImage, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken);
        try
        {
            var scorer = _scorers.Get();
            try
            {
                return scorer.Score(encodedImage);
            }
            finally
            {
                _scorers.Return(scorer);
            }
        }
        finally
        {
            _slots.Release();
        }
    }

    public void Dispose()
    {
        // The pool disposes the scorers it holds; they do not own the model, which goes last.
        (_scorers as IDisposable)?.Dispose();
        _loaded?.Dispose();
        _slots.Dispose();
    }

    sealed class ScorerPolicy(Func<IImageScorer> create) : IPooledObjectPolicy<IImageScorer>
    {
        public IImageScorer Create() => create();

        public bool Return(IImageScorer scorer) => true;
    }
}

/// <summary>One prediction engine over a served model: not thread-safe, pooled by <see cref="ImageClassifier"/>.</summary>
public interface IImageScorer : IDisposable
{
    /// <summary>Class probabilities of an encoded image file.</summary>
    /// <exception cref="InvalidDataException">The bytes do not decode to an image.</exception>
    float[] Score(byte[] encodedImage);
}

/// <summary>A loaded zip as the API serves it.</summary>
/// <param name="Kind">"scalekd" (TorchSharp) or "onnx" (stock ML.NET and ONNX Runtime).</param>
/// <param name="Student">The student's name, where the zip records it.</param>
/// <param name="ClassNames">The classes, in score order.</param>
/// <param name="ImageSize">The square size images are resized to.</param>
/// <param name="CreateScorer">Makes one scorer (prediction engine) over the loaded model.</param>
public sealed record ServedModel(string Kind, string Student, IReadOnlyList<string> ClassNames, int ImageSize, Func<IImageScorer> CreateScorer);
