using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.MLNet;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Teachers;

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
            return FromTransformer(ml, student);
        if (inputSchema?.GetColumnOrNull(StockModel.ImagePathColumn) is not null && StockClassNames(model, inputSchema) is { } names)
            return new ScoringModel(model, names, takesPaths: true);
        throw new CliException($"'{path}' holds no ScaleKD student and is not a zip written by scalekd export.",
            "use a model zip written by scalekd distill or scalekd export");
    }

    /// <summary>A teacher file scored as a student would be: one this tool saved (its .json description beside it gives
    /// the model, size and classes; a probed built-in teacher's cached head is enough), or timm safetensors whose head
    /// predicts <paramref name="dataClasses"/> (named by <paramref name="teacherName"/>, at <paramref name="imageSize"/>).</summary>
    public static ScoringModel FromTeacher(MLContext ml, string path, string? teacherName, int? imageSize, IReadOnlyList<string> dataClasses)
    {
        if (Directory.Exists(path))
            throw new CliException($"Teacher '{path}' is a folder.", "pass the teacher's .safetensors file (distill caches teachers in ~/.cache/scalekd/teachers)");
        if (!File.Exists(path))
            throw new CliException($"Teacher '{path}' does not exist.", "pass a teacher saved by this tool (~/.cache/scalekd/teachers) or timm safetensors with --teacher-name");
        // Before any model is built: the backend's check of the CPU convolutions (and NNPACK off) comes first.
        TorchBackend.Initialize();
        VisionModel teacher;
        IReadOnlyList<string> classNames;
        try
        {
            if (TeacherFiles.Exists(path))
            {
                var saved = TeacherFiles.Load(path);
                (teacher, classNames) = (saved.Model, saved.Description.ClassNames);
                if (teacherName is not null && teacherName != saved.Description.Model)
                {
                    teacher.Dispose();
                    throw new CliException($"'{path}' is a saved {saved.Description.Model}, not {teacherName}.", "leave out --teacher-name: a saved teacher's description names its model");
                }
                if (imageSize is { } size && size != teacher.Options.ImageSize)
                {
                    teacher.Dispose();
                    throw new CliException($"'{path}' was saved at {teacher.Options.ImageSize} px; --image-size {size} does not fit it.", "leave out --image-size for a saved teacher");
                }
            }
            else
                (teacher, classNames) = (ImportTimm(path, teacherName, imageSize, dataClasses), dataClasses);
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException or ArgumentException)
        {
            throw new CliException($"Teacher '{path}' cannot be read: {e.Message}", "pass a teacher saved by this tool, or timm safetensors with --teacher-name");
        }
        var options = new ScaleKDTrainer.Options { Student = teacher.GetName(), ImageSize = teacher.Options.ImageSize };
        return FromTransformer(ml, ml.MulticlassClassification.ScaleKDStudent(teacher, options, classNames));
    }

    static VisionModel ImportTimm(string path, string? teacherName, int? imageSize, IReadOnlyList<string> dataClasses)
    {
        if (teacherName is null)
            throw new CliException($"'{path}' has no description beside it ({Path.ChangeExtension(path, ".json")}), so its model is unknown.",
                "for timm safetensors, name the model with --teacher-name, e.g. --teacher-name vit_small_patch16_224");
        if (!ModelRegistry.Names.Contains(teacherName))
            throw new CliException($"Unknown model '{teacherName}'.", $"--teacher-name takes one of: {string.Join(", ", ModelRegistry.Names)}");
        var teacher = ModelRegistry.Create(teacherName, new ModelOptions(dataClasses.Count, imageSize ?? 224));
        var import = PretrainedWeights.Import(teacher, path);
        if (import.ClassifierLoaded)
            return teacher;
        teacher.Dispose();
        throw new CliException($"The head of '{path}' ({string.Join(", ", import.SkippedKeys)}) does not predict this data's {dataClasses.Count} classes, so there is nothing to score.",
            "evaluate the teacher distill prepared for these classes: it caches it in ~/.cache/scalekd/teachers");
    }

    /// <summary>Evaluate needs the predicted key beside the mapped-back label: a copy of the key column is kept.</summary>
    static ScoringModel FromTransformer(MLContext ml, ScaleKDTransformer student)
    {
        var scored = student.Transform(ml.Data.LoadFromEnumerable(Array.Empty<ImageBytesRow>()));
        var keepKey = ml.Transforms.CopyColumns("PredictedLabelKey", "PredictedLabel").Fit(scored);
        var toValue = ml.Transforms.Conversion.MapKeyToValue("PredictedLabel").Fit(keepKey.Transform(scored));
        return new ScoringModel(new TransformerChain<ITransformer>(student, keepKey, toValue), student.ClassNames, takesPaths: false);
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
