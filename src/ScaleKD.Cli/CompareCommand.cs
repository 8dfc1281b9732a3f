using System.Globalization;
using System.Text;
using Microsoft.ML;
using ScaleKD.Torch.IO;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training;

namespace ScaleKD.Cli;

/// <summary>The <c>compare</c> command: a table of methods (or ScaleKD's parts) × students × seeds, and with several
/// labelled-set sizes a data-efficiency study.</summary>
public static class CompareCommand
{
    /// <summary><c>compare</c>: columns (methods, or ScaleKD's parts) × students × seeds with one cached teacher, as a
    /// mean ± std table; with several <paramref name="trainLimits"/>, a data-efficiency study: the same at each number of
    /// labelled images, plus study.png.</summary>
    /// <param name="trainLimits">Labelled images for the students, one study point each; null: the basis's own limit.</param>
    /// <param name="firstSeed">The first run's seed; the runs use <paramref name="seeds"/> seeds from it.</param>
    public static int Compare(DistillSettings basis, IReadOnlyList<string> students, IReadOnlyList<CompareArm> arms, int seeds, bool skipBadImages = false,
        IReadOnlyList<int>? trainLimits = null, int firstSeed = 0)
    {
        using var stop = new GracefulStop();
        var rows = new List<CompareRow>();
        var display = new TrainingDisplay();
        var methods = arms.Select(a => a.Method).Distinct().ToList();
        var limits = trainLimits is { Count: > 0 } ? trainLimits.Distinct().Order().Select(l => (int?)l).ToList() : [basis.TrainLimit];
        // Every subset is checked and opened before the first run: every run of one size uses the same images, and a
        // bad option or file is found before hours of training.
        var data = limits.ToDictionary(l => l ?? 0, l => Preflight.Distill(new MLContext(seed: 0), basis with { TrainLimit = l }, students, methods, skipBadImages, display.Line, seeds, firstSeed));
        var study = limits.Count > 1;
        var runs = from limit in limits from student in students from arm in arms from seed in Enumerable.Range(firstSeed, Math.Max(seeds, 0)) select (limit, student, arm, seed);
        ClassificationResult? teacherTest = null;
        var stopped = display.Run(() =>
        {
            foreach (var (limit, student, arm, seed) in runs)
            {
                var folder = $"{student}-{arm.FolderName}" + (study ? $"-{limit}img" : "") + $"-seed{seed}";
                // One teacher serves every run, so it is scored on the test split once, by the first run that has it.
                var outcome = CompareRun(basis with { TrainLimit = limit, ScoreTeacher = teacherTest is null }, student, arm, seed, folder, display,
                    data[limit ?? 0], stop.Token);
                if (outcome.Stopped is { } cut)
                    return cut;
                var run = outcome.Students[^1];
                teacherTest ??= run.TeacherTest;
                rows.Add(new CompareRow(student, arm, seed, limit, run.Metrics.MicroAccuracy, run.Seconds, Report.TestImages(run.Metrics),
                    run.History.Count > 0 ? run.History[^1].TrainTerms : new Dictionary<string, double>()));
            }
            return null;
        });
        if (rows.Count > 0)
        {
            WriteTable(basis, students, arms, seeds == 1 ? $"seed {firstSeed}" : firstSeed == 0 ? $"{seeds} seeds" : $"seeds {firstSeed}–{firstSeed + seeds - 1}",
                limits, rows, teacherTest);
            WriteRuns(basis.Output, rows);
            if (study)
                WriteStudyPlot(basis.Output, students, arms, rows);
        }
        if (stopped is null)
            return 0;
        // A table of the finished runs only would mix seeds unevenly; compare has no checkpoints, so it reruns in full.
        Console.WriteLine($"Stopped during a {stopped.Method} run after {rows.Count} finished run{(rows.Count == 1 ? "" : "s")}" +
                          (stopped.ModelPath is { } saved ? $"; its best weights so far are saved in {saved}." : ".") +
                          (rows.Count > 0 ? $" {Path.Combine(basis.Output, "compare.md")} holds the finished runs only." : ""));
        return stop.ExitCode;
    }

    static void WriteTable(DistillSettings basis, IReadOnlyList<string> students, IReadOnlyList<CompareArm> arms, string seeds, IReadOnlyList<int?> limits, List<CompareRow> rows,
        ClassificationResult? teacherTest)
    {
        var study = limits.Count > 1;
        var md = new StringBuilder();
        md.AppendLine($"# compare: teacher {basis.Spec.Teacher.Model}, {basis.Spec.Epochs} student epochs, {basis.Spec.ImageSize} px, {seeds}");
        md.AppendLine();
        md.AppendLine("| student | " + (study ? "labelled images | " : "") + string.Join(" | ", arms.Select(a => a.Label)) + " |");
        md.AppendLine("|---|" + (study ? "---|" : "") + string.Concat(arms.Select(_ => "---|")));
        foreach (var limit in limits)
            foreach (var student in students)
                md.AppendLine($"| {student} | " + (study ? $"{limit} | " : "") + string.Join(" | ", arms.Select(a =>
                    MeanStd(rows.Where(r => r.Student == student && r.Arm == a && r.TrainLimit == limit).Select(r => r.Top1).ToList()))) + " |");
        md.AppendLine();
        md.AppendLine($"Top-1 accuracy of the last epoch on all {rows[0].TestImages} held-out images, mean ± standard deviation over seeds " +
                      $"(each seed changes initialisation, data order and augmentation; the student's training images are the same); " +
                      $"student training time {rows.Sum(r => r.Seconds) / 60:F0} min in all." +
                      (teacherTest is null ? "" : string.Create(CultureInfo.InvariantCulture,
                          $" The teacher ({basis.Spec.Teacher.Model}) scores {100 * teacherTest.Top1:F2} % on the same images, as the students are scored.")));
        Directory.CreateDirectory(basis.Output);
        AtomicFile.WriteAllText(Path.Combine(basis.Output, "compare.md"), md.ToString());
        Console.WriteLine(md.ToString());
    }

    sealed record CompareRow(string Student, CompareArm Arm, int Seed, int? TrainLimit, double Top1, double Seconds, long TestImages, IReadOnlyDictionary<string, double> LastEpochTerms);

    /// <summary>compare.csv: one line per run, with the weighted loss terms of its last epoch (which show what each
    /// column's student was trained on).</summary>
    static void WriteRuns(string folder, List<CompareRow> rows)
    {
        var csv = new StringBuilder("student,column,method,seed,train_limit,test_top1,seconds,last_epoch_loss_terms\n");
        foreach (var r in rows)
            csv.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Student},{r.Arm.Label},{r.Arm.Method},{r.Seed},{r.TrainLimit},{r.Top1:F6},{r.Seconds:F1},{string.Join(' ', r.LastEpochTerms.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Key}={t.Value:F5}")))}"));
        AtomicFile.WriteAllText(Path.Combine(folder, "compare.csv"), csv.ToString());
    }

    /// <summary>study.png: each student and column's mean test top-1 against its labelled images, ± one std.</summary>
    static void WriteStudyPlot(string folder, IReadOnlyList<string> students, IReadOnlyList<CompareArm> arms, List<CompareRow> rows)
    {
        var series = (from student in students
                      from arm in arms
                      let points = rows.Where(r => r.Student == student && r.Arm == arm && r.TrainLimit is not null)
                          .GroupBy(r => r.TrainLimit!.Value).OrderBy(g => g.Key)
                          .Select(g => (g.Key, Mean: g.Average(r => r.Top1), Std: SampleStd(g.Select(r => r.Top1).ToList()))).ToList()
                      where points.Count > 0
                      select (Name: students.Count > 1 ? $"{arm.Label} ({student})" : arm.Label, Points: (IReadOnlyList<(int, double, double)>)points)).ToList();
        Plots.Study(Path.Combine(folder, "study.png"), series);
    }

    static string MeanStd(IReadOnlyList<double> values) =>
        values.Count == 0 ? "–" : string.Create(CultureInfo.InvariantCulture, $"{100 * values.Average():F2} ± {100 * SampleStd(values):F2}");

    static double SampleStd(IReadOnlyList<double> values)
    {
        var mean = values.Average();
        return values.Count > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1)) : 0;
    }

    /// <summary>One run of the table. The teacher is trained (and cached) once, with seed 0, by the first run that needs
    /// it; each student run gets its own seed. No per-epoch validation: each run is scored once, by its last epoch, on
    /// the whole held-out split, so no run is chosen by its test accuracy.</summary>
    static DistillOutcome CompareRun(DistillSettings basis, string student, CompareArm arm, int seed, string folder, TrainingDisplay display, ImageDataSet data,
        CancellationToken stop)
    {
        var settings = basis with
        {
            // The table's None column is the comparison, so no run checks its teacher (and none trains a quick estimate).
            Spec = basis.Spec with
            {
                Student = student, Method = arm.Method, Seed = seed, Teacher = basis.Spec.Teacher with { Seed = 0 },
                Objective = arm.ScaleKD is { } parts ? basis.Spec.Objective with { ScaleKD = parts } : basis.Spec.Objective,
                TeacherCheck = basis.Spec.TeacherCheck with { Policy = WeakTeacherPolicy.Off },
            },
            ValidateEachEpoch = false,
            Output = Path.Combine(basis.Output, "compare", folder),
        };
        return new DistillRunner(settings, display, data, stop).Run();
    }

}
