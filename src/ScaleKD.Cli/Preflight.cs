using System.Globalization;
using Microsoft.ML;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training.Data;

namespace ScaleKD.Cli;

/// <summary>
/// Everything that can be checked before training, checked before training: the limits and sizes given, whether the
/// student can work at the image size, every image file of every split (header only), and whether the output folder
/// and the teacher cache can be written. A problem found only after the teacher and the student have trained costs the
/// run; so all problems are reported at once, each naming its option or its file (and TSV line).
/// </summary>
public sealed class Preflight
{
    readonly List<string> _problems = [];
    int _badImageCount;

    /// <summary>The largest --image-size accepted: beyond it a batch no longer fits in memory, and libtorch fails with
    /// native frames instead of a message.</summary>
    public const int MaxImageSize = 4096;

    /// <summary>Checks <c>distill</c>'s (or <c>compare</c>'s) settings and data, and opens the data.</summary>
    /// <param name="students">The students that will be trained (compare trains several).</param>
    /// <param name="methods">The methods they will be trained with.</param>
    /// <param name="skipBadImages">Leave bad image files out (listed through <paramref name="say"/>) instead of failing.</param>
    /// <param name="say">Where notes go (the skipped files).</param>
    /// <exception cref="CliException">Something would fail; the message lists every problem.</exception>
    public static ImageDataSet Distill(MLContext ml, DistillSettings settings, IReadOnlyList<string> students, IReadOnlyList<DistillationMethod> methods,
        bool skipBadImages, Action<string> say, int? seeds = null, int firstSeed = 0)
    {
        var check = new Preflight();
        var spec = settings.Spec;
        var limitsValid = check.AtLeastOne("--train-limit", settings.TrainLimit)
                          & check.AtLeastOne("--teacher-train-limit", settings.TeacherTrainLimit)
                          & check.AtLeastOne("--validation-limit", settings.ValidationLimit);
        check.AtLeastOne("--seeds", seeds);
        if (firstSeed < 0)
            check.Add($"--first-seed {firstSeed.ToString(CultureInfo.InvariantCulture)} cannot be negative (seeds are 0, 1, 2, …).");
        check.AtLeastOne("--epochs", spec.Epochs);
        check.AtLeastOne("--batch", spec.BatchSize);
        var needsTeacher = methods.Any(m => m != DistillationMethod.None);
        if (needsTeacher && spec.Teacher.WeightsPath is null)
            check.AtLeastOne("--teacher-epochs", spec.Teacher.Epochs);
        if (spec.Teacher.FineTuneEpochs < 0)
            check.Add($"--teacher-finetune-epochs {spec.Teacher.FineTuneEpochs.ToString(CultureInfo.InvariantCulture)} cannot be negative (0: the linear probe alone).");
        else if (needsTeacher && spec.Teacher.FineTuneEpochs > 0 && spec.Teacher.WeightsPath is null && !ModelRegistry.IsBuiltInPretrained(spec.Teacher.Model))
            check.Add($"--teacher-finetune-epochs fine-tunes a pretrained teacher; '{spec.Teacher.Model}' without --teacher-weights is trained from scratch (use --teacher-epochs).");
        var sizeValid = check.AtLeastOne("--image-size", spec.ImageSize);
        if (spec.ImageSize > MaxImageSize)
        {
            check.Add($"--image-size {spec.ImageSize} is larger than {MaxImageSize} pixels (a batch would not fit in memory).");
            sizeValid = false;
        }
        check.PositiveRate("--lr", spec.Optimizer?.LearningRate);
        check.PositiveRate("--teacher-lr", spec.Teacher.Optimizer?.LearningRate);
        if (needsTeacher)
            check.KnownModel("--teacher", spec.Teacher.Model);
        foreach (var student in students.Distinct())
            if (check.KnownModel("--student", student) && sizeValid)
                check.StudentFits(student, spec.ImageSize, methods.Contains(DistillationMethod.ScaleKD) ? spec.Objective.ScaleKD : null);
        if (spec.Teacher.WeightsPath is { } weights && !File.Exists(weights))
            check.Add(Directory.Exists(weights) ? $"--teacher-weights '{weights}' is a folder, not a weights file." : $"--teacher-weights '{weights}' does not exist.");
        check.Writable("--output", settings.Output);
        if (spec.CheckpointDirectory is { } checkpoints)
            check.Writable("--checkpoint-dir", checkpoints);
        if (needsTeacher && spec.Teacher.WeightsPath is null)
            check.Writable("the teacher cache (XDG_CACHE_HOME)", DistillRunner.TeacherCacheDirectory);

        var data = DataSets.Open(ml, settings.Data, limitsValid ? settings.TrainLimit : null, limitsValid ? settings.ValidationLimit : null,
            limitsValid ? settings.TeacherTrainLimit : null, files => WarnAboutTinyClasses(check.ImageFiles(files, skipBadImages, say), say));
        // A last partial batch is dropped, so fewer images than one batch would train nothing.
        if (spec.BatchSize >= 1 && data.TrainCount < spec.BatchSize)
            check.Add($"--batch {spec.BatchSize} is more than the {data.TrainCount} training images: no whole batch. Use --batch {data.TrainCount} or less, or more images.");
        check.ThrowIfAny();
        return data;
    }

    /// <summary>Checks <c>evaluate</c>'s limit and data, and opens the data.</summary>
    public static ScoringSet Evaluate(MLContext ml, string? data, bool heldOutOnly, int? limit, bool skipBadImages, Action<string> say)
    {
        var check = new Preflight();
        var limitValid = check.AtLeastOne("--limit", limit);
        var set = DataSets.OpenForScoring(ml, data, heldOutOnly, limitValid ? limit : null, files => check.ImageFiles(files, skipBadImages, say));
        check.ThrowIfAny();
        return set;
    }

    /// <summary>A class of one image cannot be both trained on and tested: it trains, but its accuracy means little.</summary>
    static IReadOnlyList<ImageFile> WarnAboutTinyClasses(IReadOnlyList<ImageFile> files, Action<string> say)
    {
        foreach (var tiny in files.GroupBy(f => f.Label).Where(g => g.Count() < 2).OrderBy(g => g.Key, StringComparer.Ordinal))
            say($"warning: class '{tiny.Key}' has a single image ({tiny.First().Where}); it cannot be both trained on and tested.");
        return files;
    }

    void Add(string problem) => _problems.Add(problem);

    void ThrowIfAny()
    {
        var hint = (_badImageCount > 0, _problems.Count > _badImageCount) switch
        {
            (true, true) => "fix the options and settings named above; --skip-bad-images leaves the bad image files out",
            (true, false) => "fix or remove those image files, or pass --skip-bad-images to leave them out",
            _ => "fix the options and settings named above",
        };
        if (_problems.Count == 1)
            throw new CliException(_problems[0], hint);
        if (_problems.Count > 1)
            throw new CliException($"{_problems.Count} problems, found before starting:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", _problems), hint);
    }

    /// <summary>False (and a problem) when the option was given below 1.</summary>
    bool AtLeastOne(string option, int? value)
    {
        if (value is not < 1)
            return true;
        Add($"{option} {value.Value.ToString(CultureInfo.InvariantCulture)} must be at least 1.");
        return false;
    }

    void PositiveRate(string option, double? rate)
    {
        if (rate is { } r && (!double.IsFinite(r) || r <= 0))
            Add($"{option} {r.ToString(CultureInfo.InvariantCulture)} must be a positive learning rate (e.g. 1e-3).");
    }

    bool KnownModel(string option, string name)
    {
        if (ModelRegistry.Names.Contains(name))
            return true;
        Add($"{option} '{name}' is not a known model (known: {string.Join(", ", ModelRegistry.Names)}).");
        return false;
    }

    /// <summary>Builds the student at the image size (cheap beside a run) and asks ScaleKD's own check whether its maps
    /// are large enough, so that the answer is the trainer's, not a copy of its rule.</summary>
    void StudentFits(string student, int imageSize, ScaleKDOptions? scaleKD)
    {
        TorchBackend.Initialize();
        try
        {
            using var model = ModelRegistry.Create(student, new ModelOptions(NumClasses: 2, ImageSize: imageSize));
            if (scaleKD is not null && ScaleKDObjective.SinglePositionStage(model, scaleKD) is { } stage)
            {
                // The smallest doubling that works, to name in the remedy (a few doublings at most: CNNs halve the size per stage).
                var smallest = Enumerable.Range(1, 3).Select(k => imageSize << k).Where(size => size <= MaxImageSize).FirstOrDefault(size =>
                {
                    using var larger = ModelRegistry.Create(student, new ModelOptions(NumClasses: 2, ImageSize: size));
                    return ScaleKDObjective.SinglePositionStage(larger, scaleKD) is null;
                });
                Add($"--student {student} at --image-size {imageSize} has a single position in its stage-{stage} map, which leaves ScaleKD's " +
                    $"frequency view without signal: use {(smallest > 0 ? $"--image-size {smallest} or more" : "a larger --image-size")}, or --method VanillaKD.");
            }
        }
        catch (ArgumentException e)
        {
            Add($"--student {student} cannot work at --image-size {imageSize}: {e.Message}");
        }
    }

    /// <summary>A folder can be written when it, or the nearest folder above it that exists, takes a file. Nothing is
    /// created: an early error must not leave empty output folders behind.</summary>
    void Writable(string what, string folder)
    {
        var full = Path.GetFullPath(folder);
        var existing = full;
        while (!Directory.Exists(existing))
        {
            if (File.Exists(existing))
            {
                Add($"{what} '{folder}' cannot be created: '{existing}' is a file.");
                return;
            }
            existing = Path.GetDirectoryName(existing);
            if (existing is null)
            {
                Add($"{what} '{folder}' cannot be created.");
                return;
            }
        }
        var probe = Path.Combine(existing, $".scalekd-write-check.{Environment.ProcessId}.tmp");
        try
        {
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Add($"{what} '{folder}' is not writable ({e.Message}).");
            return;
        }
        // Roughly: a model zip, checkpoints and plots of a small model. Not a promise, a guard against a full disk.
        const long minimumFree = 64L << 20;
        if (new DriveInfo(existing).AvailableFreeSpace is var free and < minimumFree)
            Add($"{what} '{folder}' has only {free >> 20} MB free; the model, checkpoints and report need more.");
    }

    /// <summary>Every image file's header; bad files are problems, or left out and listed with
    /// <paramref name="skip"/>.</summary>
    IReadOnlyList<ImageFile> ImageFiles(IReadOnlyList<ImageFile> files, bool skip, Action<string> say)
    {
        var bad = ImageFileCheck.Check(files.Select(f => f.Path).ToList());
        if (bad.Count == 0)
            return files;
        var lines = bad.Select(b => $"{files[b.Index].Where}: {b.Reason}").ToList();
        if (!skip)
        {
            _problems.AddRange(lines);
            _badImageCount = lines.Count;
            return files;
        }
        say($"Skipping {bad.Count} bad image file{(bad.Count == 1 ? "" : "s")} (--skip-bad-images):");
        foreach (var line in lines)
            say($"  {line}");
        var skipped = bad.Select(b => b.Index).ToHashSet();
        return files.Where((_, i) => !skipped.Contains(i)).ToList();
    }
}
