using System.Globalization;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.IO;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Onnx.Export;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training.Data;
using Spectre.Console;

namespace ScaleKD.Cli;

/// <summary>The commands other than distill.</summary>
public static class Commands
{
    /// <summary><c>evaluate</c>: accuracy, per-class precision and recall, and the confusion matrix; with
    /// <paramref name="json"/>, one JSON object instead of the tables.</summary>
    /// <param name="heldOutOnly">Score only the test fifth of an image folder or TSV that distill holds out; otherwise all of it.</param>
    /// <param name="skipBadImages">Leave out (and list) unreadable image files instead of failing.</param>
    public static int Evaluate(string? modelPath, string? data, int? limit, bool heldOutOnly = false, bool skipBadImages = false, bool json = false,
        TeacherToScore? teacher = null)
    {
        if ((modelPath is null) == (teacher is null))
            throw new CliException(modelPath is null ? "Nothing to evaluate." : "Pass --model or --teacher, not both.",
                "scalekd evaluate --model model.zip (a student), or --teacher FILE (a teacher file)");
        var ml = new MLContext(seed: 0);
        var dataSet = Preflight.Evaluate(ml, data, heldOutOnly, limit, skipBadImages, json ? Console.Error.WriteLine : Console.WriteLine);
        var scoring = teacher is { } t ? ScoringModel.FromTeacher(ml, t.Path, t.Name, t.ImageSize, dataSet.ClassNames) : ScoringModel.Load(ml, modelPath!);
        modelPath ??= teacher!.Path;
        var classNames = scoring.ClassNames;
        var unknown = dataSet.ClassNames.Except(classNames).ToList();
        if (unknown.Count == dataSet.ClassNames.Count)
            throw new CliException($"None of the data's classes ({string.Join(", ", dataSet.ClassNames)}) is one the model predicts ({string.Join(", ", classNames)}).",
                "evaluate a model on labelled images of the classes it was trained on");
        if (unknown.Count > 0)
        {
            // ML.NET's evaluator skips rows whose label is not one of the model's keys, so they are left out, not missed.
            var leftOut = dataSet.Rows.GetColumn<string>(nameof(ImageBytesRow.Label)).Count(unknown.Contains);
            Console.Error.WriteLine($"warning: {leftOut} images of classes the model does not predict are left out of the scores: {string.Join(", ", unknown)}");
        }
        using var files = scoring.TakesPaths ? new ImageFiles() : null;
        var rows = files?.Write(ml, dataSet.Rows) ?? dataSet.Rows;
        var scored = scoring.Model.Transform(DataSets.LabelToKey(ml, classNames).Fit(rows).Transform(rows));
        // A stock zip's PredictedLabel is the class name: its key, in the label's key order, is what the evaluator reads.
        if (scoring.TakesPaths)
            scored = ml.Transforms.Conversion.MapValueToKey("PredictedLabelKey", "PredictedLabel",
                keyData: ml.Data.LoadFromEnumerable(classNames.Select(n => new PredictedName { PredictedLabel = n }))).Fit(scored).Transform(scored);
        var metrics = ml.MulticlassClassification.Evaluate(scored, predictedLabelColumnName: "PredictedLabelKey", topKPredictionCount: Math.Min(5, classNames.Count));
        if (json)
        {
            Console.WriteLine(JsonOutput.Evaluation(modelPath, dataSet.Description, classNames, metrics, TopK(metrics, 5)));
            return 0;
        }
        Console.WriteLine(dataSet.Description);
        // Top-5 of five classes or fewer is always 100 %: it says nothing, so it is left out.
        var topFive = classNames.Count > 5 ? $", top-5 {metrics.TopKAccuracy:P2}" : "";
        AnsiConsole.MarkupLine($"[bold]top-1 accuracy {metrics.MicroAccuracy:P2}[/] ({Report.TestImages(metrics)} images), macro accuracy {metrics.MacroAccuracy:P2}, log-loss {metrics.LogLoss:F3}{topFive}");
        var table = new Table().AddColumns("class", "precision", "recall");
        for (var i = 0; i < classNames.Count; i++)
            table.AddRow(Markup.Escape(classNames[i]), $"{metrics.ConfusionMatrix.PerClassPrecision[i]:P1}", $"{metrics.ConfusionMatrix.PerClassRecall[i]:P1}");
        AnsiConsole.Write(table);
        var confusion = new Table().Title("confusion matrix (rows: true, columns: predicted)").AddColumn("");
        foreach (var name in classNames)
            confusion.AddColumn(new TableColumn(Markup.Escape(Short(name))).RightAligned());
        for (var r = 0; r < classNames.Count; r++)
            confusion.AddRow(new[] { Markup.Escape(classNames[r]) }.Concat(metrics.ConfusionMatrix.Counts[r].Select(c => c.ToString("0", CultureInfo.InvariantCulture))).ToArray());
        AnsiConsole.Write(confusion);
        return 0;
    }

    /// <summary>A teacher file for <c>evaluate --teacher</c>.</summary>
    /// <param name="Name">Its model's name, needed for timm safetensors (a saved teacher's description has it).</param>
    /// <param name="ImageSize">The size it sees; a saved teacher's own by default, 224 for timm safetensors.</param>
    public sealed record TeacherToScore(string Path, string? Name, int? ImageSize);

    /// <summary><c>predict</c>: the top-k labels and probabilities of each image; with <paramref name="json"/>, one JSON
    /// object per image and line with every class's probability.</summary>
    public static int Predict(string modelPath, IReadOnlyList<string> images, int top, bool json = false)
    {
        if (top < 1)
            throw new CliException($"--top {top} must be at least 1.", "--top N shows the N most probable labels of each image");
        var ml = new MLContext(seed: 0);
        var scoring = ScoringModel.Load(ml, modelPath);
        var classNames = scoring.ClassNames;
        using var bytesEngine = scoring.TakesPaths ? null : ml.Model.CreatePredictionEngine<ImageBytesRow, ImagePrediction>(scoring.Model);
        using var pathEngine = scoring.TakesPaths ? ml.Model.CreatePredictionEngine<ImagePathRow, ImagePrediction>(scoring.Model) : null;
        if (images.FirstOrDefault(Directory.Exists) is { } folder)
            throw new CliException($"'{folder}' is a folder, not an image file.", $"pass its files ({Path.Combine(folder, "*.png")}), or score a labelled folder with: scalekd evaluate --model {modelPath} --data {folder}");
        // Every file is checked first (a damaged PNG decodes to a partly black image without an error); a bad one is
        // reported and skipped, so one bad file in a batch does not cost the others their predictions.
        var problems = ImageFileCheck.Check(images).ToDictionary(p => p.Index, p => p.Reason);
        var failed = 0;
        for (var i = 0; i < images.Count; i++)
        {
            var image = images[i];
            ImagePrediction prediction;
            try
            {
                if (problems.TryGetValue(i, out var problem))
                    throw new InvalidDataException(problem);
                prediction = pathEngine?.Predict(new ImagePathRow { ImagePath = Path.GetFullPath(image) })
                    ?? bytesEngine!.Predict(new ImageBytesRow { Image = File.ReadAllBytes(image) });
            }
            catch (Exception e) when (e is InvalidDataException or InvalidOperationException or ArgumentException)
            {
                Console.Error.WriteLine($"error: {image}: {e.Message}");
                failed++;
                continue;
            }
            if (json)
            {
                Console.WriteLine(JsonOutput.Prediction(image, prediction.PredictedLabel, classNames, prediction.Score));
                continue;
            }
            var best = prediction.Score.Select((p, i) => (Probability: p, Name: classNames[i])).OrderByDescending(x => x.Probability).Take(top);
            Console.WriteLine($"{image}: {string.Join(", ", best.Select(b => string.Create(CultureInfo.InvariantCulture, $"{b.Name} {b.Probability:P1}")))}");
        }
        if (failed == 0)
            return 0;
        Console.Error.WriteLine($"hint: {failed} of {images.Count} file{(images.Count == 1 ? "" : "s")} could not be classified (named above); " +
                                "use whole PNG, JPEG, BMP, GIF or WebP files");
        return 1;
    }

    /// <summary><c>export</c>: the student of a ScaleKD zip as <c>student.onnx</c> and as a stock ML.NET
    /// <c>model.zip</c> in <paramref name="folder"/>.</summary>
    public static int Export(string modelPath, string folder)
    {
        if (!File.Exists(modelPath))
            throw new CliException($"Model '{modelPath}' does not exist.", "scalekd distill writes model.zip into its --output folder");
        var ml = new MLContext(seed: 0);
        var model = ml.Model.Load(modelPath, out _);
        var student = ScoringModel.FindStudent(model)
            ?? throw new CliException($"'{modelPath}' holds no ScaleKD student.", "export takes a model zip written by scalekd distill (or any ML.NET zip with a ScaleKD transformer)");
        if (student.Student.Options.InChannels != 3)
            throw new CliException($"The student of '{modelPath}' takes {student.Student.Options.InChannels} channels; export writes RGB (3-channel) students.",
                "distil an RGB student");
        var onnx = Path.Combine(folder, "student.onnx");
        var stock = Path.Combine(folder, "model.zip");
        try
        {
            student.ExportOnnx(onnx);
            StockModel.Write(ml, student, stock);
        }
        catch (NotSupportedException e)
        {
            throw new CliException(e.Message, "export writes ResNet, MobileNetV1, ConvNeXt, MLP-Mixer, ViT and Swin students");
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new CliException($"--onnx '{folder}': {e.Message}", "pass a folder you can write to");
        }
        Console.WriteLine($"{onnx}: {student.Student.GetName()} as ONNX (opset {OnnxExport.Opset}; input 'image' float32 (N, 3, " +
                          $"{student.Preprocessing.ImageSize}, {student.Preprocessing.ImageSize}) pixels in [0, 255]; outputs 'probabilities', 'label')");
        Console.WriteLine($"{stock}: stock ML.NET zip (Microsoft.ML, Microsoft.ML.ImageAnalytics, Microsoft.ML.OnnxTransformer, " +
                          "Microsoft.ML.OnnxRuntime): ImagePath in; Score, PredictedLabel out");
        return 0;
    }

    /// <summary><c>import-teacher</c>: how a checkpoint fits an architecture.</summary>
    public static int ImportTeacher(string modelName, string weights, int classes, int imageSize)
    {
        if (!ModelRegistry.Names.Contains(modelName))
            throw new CliException($"Unknown model '{modelName}'.", $"known models: {string.Join(", ", ModelRegistry.Names)}");
        TorchBackend.Initialize();
        using var model = ModelRegistry.Create(modelName, new ModelOptions(classes, imageSize));
        var mismatch = PretrainedWeights.Check(model, weights);
        var classifier = PretrainedWeights.ClassifierKeys(model);
        if (mismatch.IsEmpty)
        {
            Console.WriteLine($"{weights} fits {modelName}: all {model.state_dict().Count} tensors match by name and shape.");
            return 0;
        }
        Console.WriteLine(mismatch.Describe());
        var onlyHead = mismatch.Missing.Concat(mismatch.Unexpected).Concat(mismatch.MisShaped.Select(m => m.Key)).All(classifier.Contains);
        Console.WriteLine(onlyHead
            ? $"Only the classifier differs: distill will load the backbone and fit a new head on your classes (linear probe)."
            : mismatch.WrapperPrefix is { } prefix
                ? $"Save the weights without the '{prefix}' prefix (above), then check again."
                : $"The backbone does not fit {modelName}: check the architecture name (and image size for position embeddings).");
        return onlyHead ? 0 : 1;
    }

    /// <summary><c>info</c>: the backend.</summary>
    public static int Info(bool cuda)
    {
        var backend = TorchBackend.Initialize(new TorchBackendOptions { UseCuda = cuda });
        Console.WriteLine($"ScaleKD.MLNet: TorchSharp {typeof(TorchSharp.torch).Assembly.GetName().Version}, libtorch {TorchSharp.torch.__version__}");
        Console.WriteLine($"Backend: {backend.Description}");
        Console.WriteLine($"CPU convolutions: {backend.CpuConvolutions}");
        using var probe = TorchSharp.torch.randn(64, 64, device: backend.Device);
        Console.WriteLine($"Check: a 64x64 matmul on {backend.Device} gives a finite result: {TorchSharp.torch.isfinite(probe.matmul(probe)).all().item<bool>()}");
        return 0;
    }

    /// <summary>The key data of a predicted-label key: one text column.</summary>
    sealed class PredictedName
    {
        public string PredictedLabel { get; set; } = "";
    }

    internal static double TopK(MulticlassClassificationMetrics metrics, int k) =>
        metrics.TopKAccuracyForAllK is { Count: > 0 } all ? all[Math.Min(k, all.Count) - 1] : double.NaN;

    static string Short(string name) => name.Length <= 8 ? name : name[..7] + "…";
}
