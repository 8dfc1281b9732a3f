using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;

namespace ScaleKD.MLNet;

/// <summary>The ScaleKD trainer on ML.NET's multiclass-classification catalog.</summary>
public static class ScaleKDCatalog
{
    /// <summary>Distils a teacher into a student with the given settings (see <see cref="ScaleKDTrainer.Options"/>).</summary>
    public static ScaleKDTrainer ScaleKD(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog, ScaleKDTrainer.Options options) =>
        new(catalog.GetEnvironment(), options);

    /// <summary>Distils <paramref name="teacher"/> into <paramref name="student"/> with ScaleKD and the official recipe;
    /// what is left out keeps the default of <see cref="ScaleKDTrainer.Options"/>.</summary>
    /// <param name="labelColumnName">The key-typed label column.</param>
    /// <param name="imageColumnName">The image column (MLImage or Vector&lt;Byte&gt;).</param>
    /// <param name="teacher">The teacher's timm name.</param>
    /// <param name="student">The student's timm name.</param>
    /// <param name="epochs">Student training epochs.</param>
    /// <param name="teacherWeightsPath">timm/HF safetensors for the teacher; null trains it from scratch.</param>
    /// <param name="imageSize">Square image size.</param>
    public static ScaleKDTrainer ScaleKD(this MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog,
        string labelColumnName = "Label", string imageColumnName = "Image", string? teacher = null, string? student = null,
        int? epochs = null, string? teacherWeightsPath = null, int? imageSize = null)
    {
        var options = new ScaleKDTrainer.Options
        {
            LabelColumnName = labelColumnName,
            ImageColumnName = imageColumnName,
            TeacherWeightsPath = teacherWeightsPath,
            Method = DistillationMethod.ScaleKD,
        };
        options.Teacher = teacher ?? options.Teacher;
        options.Student = student ?? options.Student;
        options.Epochs = epochs ?? options.Epochs;
        options.ImageSize = imageSize ?? options.ImageSize;
        return new(catalog.GetEnvironment(), options);
    }

    /// <summary>A student trained elsewhere (by a PyTorch DDP job; ScaleKD.Torch's <c>TrainedStudent</c>) as the
    /// transformer <see cref="ScaleKDTrainer.Fit"/> returns: the same scoring, preprocessing, annotations and model zip.</summary>
    /// <param name="catalog">The multiclass catalog.</param>
    /// <param name="student">The trained student; the transformer owns it from here on.</param>
    /// <param name="options">The settings it was trained with (<see cref="ScaleKDTrainer.Options.FromSpec"/>): its image
    /// size, normalisation and evaluation crop, and the column names.</param>
    /// <param name="classNames">Its classes by output index; they become the predicted label's text values.</param>
    public static ScaleKDTransformer ScaleKDStudent(this MulticlassClassificationCatalog catalog, VisionModel student,
        ScaleKDTrainer.Options options, IReadOnlyList<string> classNames)
    {
        var env = catalog.GetEnvironment();
        var spec = options.ToSpec(options.Seed ?? 0, BackendOptions.From(env));
        var device = TorchBackend.Initialize(spec.Backend).Device;
        return new ScaleKDTransformer(env, student, device, options.ImageColumnName, options.ScoreColumnName, options.PredictedLabelColumnName,
            ClassLabels.FromNames(classNames), StudentPreprocessing.For(spec), options.ScoringBatchSize);
    }
}
