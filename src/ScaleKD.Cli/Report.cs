using System.Globalization;
using System.Text;
using Microsoft.ML.Data;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.IO;
using ScaleKD.Torch.Training;

namespace ScaleKD.Cli;

/// <summary>Writes report.md: settings, per-epoch metrics, final accuracy and time, and the plots.</summary>
public static class Report
{
    public static void Write(string folder, DistillSettings settings, ImageDataSet data, IReadOnlyList<EpochMetrics> teacher,
        IReadOnlyList<StudentRun> runs, TimeSpan elapsed)
    {
        var main = runs[^1];
        var spec = settings.Spec;
        var curves = runs.Select(r => (Name: $"{r.Method} {spec.Student}", r.History)).Prepend((Name: $"teacher {spec.Teacher.Model}", History: teacher)).ToList();
        Plots.Loss(Path.Combine(folder, "loss.png"), curves);
        Plots.Accuracy(Path.Combine(folder, "accuracy.png"), curves);
        Plots.Confusion(Path.Combine(folder, "confusion.png"), data.ClassNames, main.Metrics.ConfusionMatrix.Counts);

        var md = new StringBuilder();
        md.AppendLine($"# ScaleKD run: {spec.Teacher.Model} → {spec.Student}");
        md.AppendLine();
        md.AppendLine($"Finished {DateTime.Now:yyyy-MM-dd HH:mm} in {elapsed:hh\\:mm\\:ss} on {Environment.ProcessorCount} CPU cores ({settings.Device}).");
        md.AppendLine();
        md.AppendLine($"| method | test top-1 (all {TestImages(main.Metrics)} held-out images) | validation top-1 | macro accuracy | log-loss | training time |");
        md.AppendLine("|---|---|---|---|---|---|");
        foreach (var run in runs)
            md.AppendLine(Invariant($"| {run.Method} | {run.Metrics.MicroAccuracy:P2} | {run.ValidationTop1:P2} | {run.Metrics.MacroAccuracy:P2} | {run.Metrics.LogLoss:F3} | {run.Seconds:F0} s |"));
        // The teacher on the same images, scored as the students are: how much of it the students kept.
        if (runs.FirstOrDefault(r => r.TeacherTest is not null)?.TeacherTest is { } teacherTest)
            md.AppendLine(Invariant($"| teacher `{spec.Teacher.Model}` | {teacherTest.Top1:P2} | {TeacherValidationTop1(runs, teacher):P2} | – | {teacherTest.Loss:F3} | – |"));
        if (runs.FirstOrDefault(r => r.TeacherVerdict is not null)?.TeacherVerdict is { TeacherTop1: { } teacherTop1 } verdict)
            md.AppendLine(Invariant($"\nteacher {spec.Teacher.Model}: validation top-1 {teacherTop1:P1}. {verdict.Message}"));
        else if (teacher.Count > 0 && teacher[^1].ValidationTop1 is { } scratchTop1)
            md.AppendLine(Invariant($"\nteacher {spec.Teacher.Model}: validation top-1 {scratchTop1:P1} (trained from scratch here)."));
        if (runs.FirstOrDefault(r => r.Method == DistillationMethod.None)?.ValidationTop1 is { } alone)
            foreach (var run in runs.Where(r => r.Method != DistillationMethod.None && r.ValidationTop1 < alone))
                md.AppendLine(Invariant($"\n**Warning: the {run.Method} student ({run.ValidationTop1:P2}) ended below the student trained without distillation ({alone:P2}) on validation: distillation did not help here.**"));
        md.AppendLine();
        md.AppendLine("## Settings");
        md.AppendLine($"- data: {data.Description}");
        var teacherImages = settings.TeacherTrainLimit is { } limit ? $"a class-balanced {limit} of the training images" : "all training images";
        if (spec.Method == DistillationMethod.None)
            md.AppendLine("- teacher: none (method None trains the student alone)");
        else
            md.AppendLine($"- teacher: `{spec.Teacher.Model}` at {spec.Teacher.ImageSizeFor(spec.ImageSize)} px" + (spec.Teacher.WeightsPath is { } w ? $" from `{w}`"
                : Torch.Models.ModelRegistry.IsBuiltInPretrained(spec.Teacher.Model) ? $", pretrained on ImageNet, with a linear probe on {teacherImages} (cached)"
                : $", trained from scratch for {spec.Teacher.Epochs} epochs on {teacherImages} (cached)"));
        md.AppendLine($"- student: `{spec.Student}`; method {spec.Method}; {spec.Epochs} epochs; batch {spec.BatchSize}; {spec.ImageSize} px; seed {spec.Seed}"
            + (spec.Optimizer is { } recipe ? $"; {recipe.Description}" : "; the official optimizer recipe")
            + $"; {settings.AugmentationName} augmentation");
        md.AppendLine($"- model: `{Path.GetFileName(main.ModelPath)}` (ML.NET zip; input column `Image`, encoded image bytes)");
        md.AppendLine();
        md.AppendLine("![loss](loss.png)");
        md.AppendLine("![accuracy](accuracy.png)");
        md.AppendLine("![confusion matrix](confusion.png)");
        md.AppendLine();
        md.AppendLine("## Per-class results (" + main.Method + ")");
        md.AppendLine("| class | precision | recall |");
        md.AppendLine("|---|---|---|");
        var confusion = main.Metrics.ConfusionMatrix;
        for (var i = 0; i < data.ClassNames.Count; i++)
            md.AppendLine(Invariant($"| {data.ClassNames[i]} | {confusion.PerClassPrecision[i]:P1} | {confusion.PerClassRecall[i]:P1} |"));
        foreach (var (name, history) in curves.Where(c => c.History.Count > 0))
        {
            md.AppendLine();
            md.AppendLine($"## Epochs: {name}");
            md.AppendLine("| epoch | train loss | train top-1 | validation top-1 | validation top-5 | learning rate | img/s |");
            md.AppendLine("|---|---|---|---|---|---|---|");
            foreach (var e in history)
                md.AppendLine(Invariant($"| {e.Epoch} | {e.TrainLoss:F4} | {e.TrainTop1:P1} | {e.ValidationTop1:P2} | {e.ValidationTop5:P2} | {e.LearningRate:G3} | {e.ImagesPerSecond:F0} |"));
            // The weighted terms show which part of the objective the student was mostly trained on.
            if (history[^1].TrainTerms is { Count: > 0 } terms)
                md.AppendLine("\nloss terms of the last epoch (weighted): " + string.Join(", ", terms.Select(t => Invariant($"{t.Key} {t.Value:F4}"))));
        }
        AtomicFile.WriteAllText(Path.Combine(folder, "report.md"), md.ToString());
    }

    static double? TeacherValidationTop1(IReadOnlyList<StudentRun> runs, IReadOnlyList<EpochMetrics> teacher) =>
        runs.Select(r => r.TeacherVerdict?.TeacherTop1).FirstOrDefault(t => t is not null) ?? teacher.LastOrDefault()?.ValidationTop1;

    /// <summary>How many images the metrics were computed on.</summary>
    public static long TestImages(MulticlassClassificationMetrics metrics) =>
        (long)metrics.ConfusionMatrix.Counts.Sum(row => row.Sum());

    static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
