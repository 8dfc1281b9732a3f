using Microsoft.ML;
using ScaleKD.MLNet;
using ScaleKD.Torch.Jobs;
using ScaleKD.Torch.Native;
using Spectre.Console;

namespace ScaleKD.Cli;

/// <summary><c>export-job</c> and <c>import-student</c>: the same distillation run by PyTorch DDP on one or many
/// machines (ScaleKD.Torch's <see cref="JobExport"/> writes the job), and its student brought back as a model zip.</summary>
public static class JobCommands
{
    /// <summary><c>export-job</c>: prepares the teacher and writes the job folder.</summary>
    public static int ExportJob(DistillSettings settings, string folder)
    {
        TorchBackend.Initialize();
        var spec = settings.Spec with { Teacher = settings.Spec.Teacher with { CacheDirectory = DistillRunner.TeacherCacheDirectory } };
        var (train, teacherData, classNames) = DataSets.ForJob(settings.Data, settings.TrainLimit, settings.ValidationLimit, settings.TeacherTrainLimit);
        // The cache key of distill's, so that a teacher trained for one is reused by the other.
        teacherData = teacherData is null ? null : teacherData with { CacheKey = DistillRunner.TeacherCacheKey(settings, classNames, fingerprint: null) };
        try
        {
            JobExport.Write(spec, classNames, train, teacherData, folder, PythonRunner.ShippedDirectory, new Log());
        }
        catch (NotSupportedException e)
        {
            throw new CliException(e.Message, "choose what the job supports (scalekd export-job --help), or run it in .NET with scalekd distill");
        }
        // Two processes where the global batch splits over two (train.py refuses a batch its processes do not divide).
        var processes = spec.BatchSize % 2 == 0 ? 2 : 1;
        AnsiConsole.MarkupLine(Markup.Escape($"Next: python3 -m torch.distributed.run --nproc_per_node={processes} {Path.Combine(folder, PythonRunner.Script)}"));
        // torch 1.13's launcher under Python 3.11 cannot parse its own defaults of these two flags (fixed in PyTorch 2.0).
        AnsiConsole.MarkupLine("  (with Debian 12's PyTorch 1.13, add --redirects 1 --tee 1 after --nproc_per_node)");
        AnsiConsole.MarkupLine(Markup.Escape($"then: scalekd import-student --job {folder} --output model.zip"));
        return 0;
    }

    /// <summary><c>import-student</c>: the job's trained student as the tool's model zip.</summary>
    public static int ImportStudent(string folder, string output)
    {
        TorchBackend.Initialize();
        TrainedStudent trained;
        try
        {
            trained = TrainedStudent.Load(folder);
        }
        catch (FileNotFoundException e)
        {
            throw new CliException(e.Message, "export a job with scalekd export-job and run it with torchrun first");
        }
        catch (InvalidDataException e)
        {
            throw new CliException(e.Message, "the file named is damaged or from another job: export the job again (student.safetensors: run the job again)");
        }
        if (trained.StoppedEarly is { } stopped)
            Console.Error.WriteLine($"warning: this student is partly trained: {stopped} (metrics.json); run the job to its end to finish it");
        var settings = trained.Settings;
        var ml = new MLContext(seed: settings.Seed);
        var student = ml.MulticlassClassification.ScaleKDStudent(trained.Model, ScaleKDTrainer.Options.FromSpec(settings.Spec), settings.ClassNames);
        var rows = ModelZip.EmptyKeyedRows(ml, settings.ClassNames);
        using var model = ModelZip.Chain(ml, student, rows);
        ModelZip.Save(ml, model, rows, output);
        AnsiConsole.MarkupLine(Markup.Escape($"Wrote {output}: {settings.Spec.Student} on {settings.ClassNames.Count} classes at {settings.ImageSize} px, from {folder}."));
        AnsiConsole.MarkupLine(Markup.Escape($"Next: scalekd evaluate --model {output}"));
        return 0;
    }

    /// <summary>Prints each line as it is reported, in order (Progress&lt;T&gt; would post them to the thread pool).</summary>
    sealed class Log : IProgress<string>
    {
        public void Report(string value) => AnsiConsole.MarkupLine(Markup.Escape(value));
    }
}
