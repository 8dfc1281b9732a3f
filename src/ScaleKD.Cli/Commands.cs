using System.Globalization;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.IO;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Teachers;
using Spectre.Console;

namespace ScaleKD.Cli;

/// <summary>The commands other than distill.</summary>
public static class Commands
{
    /// <summary><c>evaluate</c>: accuracy, per-class precision and recall, and the confusion matrix.</summary>
    /// <param name="heldOutOnly">Score only the fifth of an image folder or TSV that distill holds out; otherwise all of it.</param>
    /// <param name="skipBadImages">Leave out (and list) unreadable image files instead of failing.</param>
    public static int Evaluate(string modelPath, string? data, int? limit, bool heldOutOnly = false, bool skipBadImages = false)
    {
        var ml = new MLContext(seed: 0);
        var dataSet = Preflight.Evaluate(ml, data, heldOutOnly, limit, skipBadImages, Console.WriteLine);
        var (model, classNames) = Load(ml, modelPath);
        var unknown = dataSet.ClassNames.Except(classNames).ToList();
        if (unknown.Count > 0)
            AnsiConsole.MarkupLine(Markup.Escape($"warning: classes the model does not know are counted as misses: {string.Join(", ", unknown)}"));
        var toKey = DataSets.LabelToKey(ml, classNames);
        var scored = model.Transform(toKey.Fit(dataSet.Rows).Transform(dataSet.Rows));
        var metrics = ml.MulticlassClassification.Evaluate(scored, predictedLabelColumnName: "PredictedLabelKey", topKPredictionCount: Math.Min(5, classNames.Count));
        Console.WriteLine(dataSet.Description);
        // Top-5 of fewer than 5 classes is always 100 %: it says nothing, so it is left out.
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

    /// <summary><c>predict</c>: the top-k labels and probabilities of each image.</summary>
    public static int Predict(string modelPath, IReadOnlyList<string> images, int top)
    {
        if (top < 1)
            throw new CliException($"--top {top} must be at least 1.", "--top N shows the N most probable labels of each image");
        var ml = new MLContext(seed: 0);
        var (model, classNames) = Load(ml, modelPath);
        using var engine = ml.Model.CreatePredictionEngine<ImageBytesRow, ImagePrediction>(model);
        foreach (var image in images)
        {
            if (Directory.Exists(image))
                throw new CliException($"'{image}' is a folder, not an image file.", $"pass its files ({Path.Combine(image, "*.png")}), or score a labelled folder with: scalekd evaluate --model {modelPath} --data {image}");
            if (!File.Exists(image))
                throw new CliException($"Image '{image}' does not exist.", "pass image file paths after the options");
            ImagePrediction prediction;
            try
            {
                prediction = engine.Predict(new ImageBytesRow { Image = File.ReadAllBytes(image) });
            }
            catch (InvalidDataException e)
            {
                throw new CliException($"'{image}' is not a readable image ({e.Message}).", "use PNG, JPEG, BMP, GIF or WebP files");
            }
            var best = prediction.Score.Select((p, i) => (Probability: p, Name: classNames[i])).OrderByDescending(x => x.Probability).Take(top);
            Console.WriteLine($"{image}: {string.Join(", ", best.Select(b => string.Create(CultureInfo.InvariantCulture, $"{b.Name} {b.Probability:P1}")))}");
        }
        return 0;
    }

    /// <summary><c>compare</c>: methods × students × seeds with one cached teacher, as a mean ± std table.</summary>
    public static int Compare(DistillSettings basis, IReadOnlyList<string> students, IReadOnlyList<DistillationMethod> methods, int seeds, bool skipBadImages = false)
    {
        using var stop = new GracefulStop();
        var rows = new List<CompareRow>();
        var display = new TrainingDisplay();
        // Checked and opened once: every run uses the same images.
        var data = Preflight.Distill(new MLContext(seed: 0), basis, students, methods, skipBadImages, display.Line, seeds);
        var runs = from student in students from method in methods from seed in Enumerable.Range(0, seeds) select (student, method, seed);
        var stopped = display.Run(() =>
        {
            foreach (var (student, method, seed) in runs)
            {
                var outcome = CompareRun(basis, student, method, seed, display, data, stop.Token);
                if (outcome.Stopped is { } cut)
                    return cut;
                var run = outcome.Students[^1];
                rows.Add(new CompareRow(student, method, seed, run.Metrics.MicroAccuracy, run.Seconds, Report.TestImages(run.Metrics)));
            }
            return null;
        });
        if (rows.Count > 0)
            WriteTable(basis, students, methods, seeds, rows);
        if (stopped is null)
            return 0;
        // A table of the finished runs only would mix seeds unevenly; compare has no checkpoints, so it reruns in full.
        Console.WriteLine($"Stopped during a {stopped.Method} run after {rows.Count} finished run{(rows.Count == 1 ? "" : "s")}" +
                          (stopped.ModelPath is { } saved ? $"; its best weights so far are saved in {saved}." : ".") +
                          (rows.Count > 0 ? $" {Path.Combine(basis.Output, "compare.md")} holds the finished runs only." : ""));
        return stop.ExitCode;
    }

    static void WriteTable(DistillSettings basis, IReadOnlyList<string> students, IReadOnlyList<DistillationMethod> methods, int seeds, List<CompareRow> rows)
    {
        var md = new StringBuilder();
        md.AppendLine($"# compare: teacher {basis.Spec.Teacher.Model}, {basis.Spec.Epochs} student epochs, {basis.Spec.ImageSize} px, {seeds} seeds");
        md.AppendLine();
        md.AppendLine("| student | " + string.Join(" | ", methods) + " |");
        md.AppendLine("|---|" + string.Concat(methods.Select(_ => "---|")));
        foreach (var student in students)
            md.AppendLine($"| {student} | " + string.Join(" | ", methods.Select(m => MeanStd(rows.Where(r => r.Student == student && r.Method == m).Select(r => r.Top1).ToList()))) + " |");
        md.AppendLine();
        md.AppendLine($"Top-1 accuracy of the last epoch on all {rows[0].TestImages} held-out images, mean ± standard deviation over seeds " +
                      $"(each seed changes initialisation, data order and augmentation; the student's training images are the same); " +
                      $"student training time {rows.Sum(r => r.Seconds) / 60:F0} min in all.");
        Directory.CreateDirectory(basis.Output);
        AtomicFile.WriteAllText(Path.Combine(basis.Output, "compare.md"), md.ToString());
        Console.WriteLine(md.ToString());
    }

    sealed record CompareRow(string Student, DistillationMethod Method, int Seed, double Top1, double Seconds, long TestImages);

    /// <summary>One run of the table. The teacher is trained (and cached) once, with seed 0, by the first run that needs
    /// it; each student run gets its own seed. No per-epoch validation: each run is scored once, by its last epoch, on
    /// the whole held-out split, so no run is chosen by its test accuracy.</summary>
    static DistillOutcome CompareRun(DistillSettings basis, string student, DistillationMethod method, int seed, TrainingDisplay display, ImageDataSet data,
        CancellationToken stop)
    {
        var settings = basis with
        {
            Spec = basis.Spec with { Student = student, Method = method, Seed = seed, Teacher = basis.Spec.Teacher with { Seed = 0 } },
            ValidateEachEpoch = false,
            Output = Path.Combine(basis.Output, "compare", $"{student}-{method}-seed{seed}"),
        };
        return new DistillRunner(settings, display, data, stop).Run();
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

    static (ITransformer Model, IReadOnlyList<string> ClassNames) Load(MLContext ml, string path)
    {
        if (!File.Exists(path))
            throw new CliException($"Model '{path}' does not exist.", "scalekd distill writes model.zip into its --output folder");
        if (Directory.Exists(path))
            throw new CliException($"Model '{path}' is a folder.", "pass the model.zip that scalekd distill wrote into it");
        ITransformer model;
        try
        {
            model = ml.Model.Load(path, out _);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // ML.NET's own words for a foreign file ("Could not load legacy format model") do not say what to do.
            throw new CliException($"'{path}' is not an ML.NET model zip this tool can read ({CliException.Cause(e).Message}).",
                "use a model zip written by scalekd distill, or by MLContext.Model.Save of a pipeline with a ScaleKD step", e);
        }
        // A zip of one transformer is not a chain: ask, do not cast ("Unable to cast 'ValueToKeyMappingTransformer'").
        var scaleKD = (model as IEnumerable<ITransformer> ?? [model]).OfType<MLNet.ScaleKDTransformer>().FirstOrDefault()
            ?? throw new CliException($"'{path}' holds no ScaleKD student.", "use a model zip written by scalekd distill");
        // Evaluate needs the predicted key beside the mapped-back label: keep a copy of the key column.
        var scored = scaleKD.Transform(ml.Data.LoadFromEnumerable(Array.Empty<ImageBytesRow>()));
        var keepKey = ml.Transforms.CopyColumns("PredictedLabelKey", "PredictedLabel").Fit(scored);
        var toValue = ml.Transforms.Conversion.MapKeyToValue("PredictedLabel").Fit(keepKey.Transform(scored));
        return (new TransformerChain<ITransformer>(scaleKD, keepKey, toValue), scaleKD.ClassNames);
    }

    static string Short(string name) => name.Length <= 8 ? name : name[..7] + "…";

    static string MeanStd(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
            return "–";
        var mean = values.Average();
        var std = values.Count > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1)) : 0;
        return string.Create(CultureInfo.InvariantCulture, $"{100 * mean:F2} ± {100 * std:F2}");
    }
}
