using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.MLNet;

namespace ScaleKD.Cli;

/// <summary>
/// A model zip that predict and evaluate score: either a ScaleKD zip (the student inside any chain; encoded image
/// bytes in <c>Image</c>) or a stock zip written by export (<c>ImagePath</c> in, scored by ONNX Runtime). Both give
/// <c>Score</c> in <see cref="ClassNames"/>' order and <c>PredictedLabel</c> as text.
/// </summary>
sealed class ScoringModel
{
    ScoringModel(ITransformer model, IReadOnlyList<string> classNames, bool takesPaths)
    {
        Model = model;
        ClassNames = classNames;
        TakesPaths = takesPaths;
    }

    /// <summary>The scoring pipeline.</summary>
    public ITransformer Model { get; }

    /// <summary>The classes, in <c>Score</c>'s order.</summary>
    public IReadOnlyList<string> ClassNames { get; }

    /// <summary>True for a stock zip: its input is <c>ImagePath</c> (a file path), not the file's bytes.</summary>
    public bool TakesPaths { get; }

    public static ScoringModel Load(MLContext ml, string path)
    {
        if (Directory.Exists(path))
            throw new CliException($"Model '{path}' is a folder.", "pass the model.zip that scalekd distill (or scalekd export) wrote into it");
        if (!File.Exists(path))
            throw new CliException($"Model '{path}' does not exist.", "scalekd distill writes model.zip into its --output folder");
        ITransformer model;
        DataViewSchema? inputSchema;
        try
        {
            model = ml.Model.Load(path, out inputSchema);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // ML.NET's own words for a foreign file ("Could not load legacy format model") do not say what to do.
            throw new CliException($"'{path}' is not an ML.NET model zip this tool can read ({CliException.Cause(e).Message}).",
                "use a model zip written by scalekd distill or scalekd export, or by MLContext.Model.Save of a pipeline with a ScaleKD step", e);
        }
        if (FindStudent(model) is { } student)
        {
            // Evaluate needs the predicted key beside the mapped-back label: keep a copy of the key column.
            var scored = student.Transform(ml.Data.LoadFromEnumerable(Array.Empty<ImageBytesRow>()));
            var keepKey = ml.Transforms.CopyColumns("PredictedLabelKey", "PredictedLabel").Fit(scored);
            var toValue = ml.Transforms.Conversion.MapKeyToValue("PredictedLabel").Fit(keepKey.Transform(scored));
            return new ScoringModel(new TransformerChain<ITransformer>(student, keepKey, toValue), student.ClassNames, takesPaths: false);
        }
        if (inputSchema?.GetColumnOrNull(StockModel.ImagePathColumn) is not null && StockClassNames(model, inputSchema) is { } names)
            return new ScoringModel(model, names, takesPaths: true);
        throw new CliException($"'{path}' holds no ScaleKD student and is not a zip written by scalekd export.",
            "use a model zip written by scalekd distill or scalekd export");
    }

    /// <summary>The ScaleKD transformer of <paramref name="model"/>, searched through nested chains.</summary>
    public static ScaleKDTransformer? FindStudent(ITransformer model) => model switch
    {
        ScaleKDTransformer student => student,
        IEnumerable<ITransformer> chain => chain.Select(FindStudent).FirstOrDefault(s => s is not null),
        _ => null,
    };

    /// <summary>A stock zip's class names, in score order: the slot names of its <c>Score</c> (null where it has none).</summary>
    static IReadOnlyList<string>? StockClassNames(ITransformer model, DataViewSchema inputSchema)
    {
        if (model.GetOutputSchema(inputSchema).GetColumnOrNull("Score") is not { } score || !score.HasSlotNames())
            return null;
        VBuffer<ReadOnlyMemory<char>> names = default;
        score.GetSlotNames(ref names);
        return names.DenseValues().Select(n => n.ToString()).ToList();
    }
}
