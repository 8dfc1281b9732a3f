using System.CommandLine;
using System.Diagnostics;
using ScaleKD.Cli;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training.Optimization;
using Spectre.Console;

// scalekd: distil a vision transformer into a small ML.NET model from the command line. With no arguments it runs
// `distill --preset quick` on Fashion-MNIST.
var verbose = new Option<bool>("--verbose") { Description = "Show full error details (stack traces).", Recursive = true };

var data = new Option<string?>("--data") { Description = "An image folder (one sub-folder per class), a Fashion-MNIST IDX folder, or a TSV of label<TAB>path. Default: Fashion-MNIST from /usr/share/datasets/fashion-mnist." };
var preset = new Option<string>("--preset") { Description = "quick: the ten-minute CPU demo (teacher trained once and cached, data-limited student, baseline for comparison); none: only your options.", DefaultValueFactory = _ => "quick" };
var teacher = new Option<string?>("--teacher") { Description = "Teacher model (timm name), e.g. vit_small_patch16_224, swin_large_patch4_window7_224." };
var teacherWeights = new Option<string?>("--teacher-weights") { Description = "Teacher weights: timm/Hugging Face safetensors (timm names), or a teacher saved by this tool. Without it the teacher is trained from scratch and cached." };
var teacherEpochs = new Option<int?>("--teacher-epochs") { Description = "Epochs of from-scratch teacher training." };
var student = new Option<string?>("--student") { Description = "Student model (timm name), e.g. resnet18, mobilenetv1_100, vit_small_patch16_224." };
var method = new Option<DistillationMethod?>("--method") { Description = "ScaleKD, VanillaKD, FeatureKD, Dist or None." };
var epochs = new Option<int?>("--epochs") { Description = "Student epochs." };
var batch = new Option<int?>("--batch") { Description = "Images per step." };
var imageSize = new Option<int?>("--image-size") { Description = "Square image size in pixels (CNN students need 64 or more for ScaleKD)." };
var learningRate = new Option<double?>("--lr") { Description = "AdamW at this peak learning rate, with the AdamW warm-up and cosine, for any student; default: the official recipe for the student (LAMB for ResNet and MobileNetV1), scaled to the batch." };
var teacherLearningRate = new Option<double?>("--teacher-lr") { Description = "Peak learning rate of a from-scratch teacher (default: as --lr; 2e-3 in the quick preset)." };
var trainLimit = new Option<int?>("--train-limit") { Description = "Class-balanced subset of training images for the student (the teacher still sees all)." };
var teacherTrainLimit = new Option<int?>("--teacher-train-limit") { Description = "Class-balanced subset of training images a from-scratch teacher learns from (default: all)." };
var validationLimit = new Option<int?>("--validation-limit") { Description = "Check at most this many held-out images after every epoch (the final accuracy uses all of them)." };
var seed = new Option<int?>("--seed") { Description = "Seed of the training run (initialisation, data order, augmentation); the data subsets are the same for every seed." };
var device = new Option<string>("--device") { Description = "cpu or cuda (CUDA needs an external libtorch build; see README).", DefaultValueFactory = _ => "cpu" };
device.AcceptOnlyFromAmong("cpu", "cuda");
var checkpoints = new Option<string?>("--checkpoint-dir") { Description = "Write a checkpoint every epoch here; a later run with the same options resumes from it." };
var resume = new Option<bool>("--resume") { Description = "Resume from --checkpoint-dir (default ./scalekd-output/checkpoints) after an interruption." };
var augment = new Option<string?>("--augment") { Description = "official (crop, flip, RandAugment m9, erasing), light (crop and flip; the quick preset) or none." };
augment.AcceptOnlyFromAmong("official", "light", "none");
var baseline = new Option<bool?>("--baseline") { Description = "Also train the student without distillation and compare (on in the quick preset)." };
var output = new Option<string>("--output") { Description = "Folder for model.zip, report.md and the plots.", DefaultValueFactory = _ => "scalekd-output" };

var distill = new Command("distill", "Distil a teacher into a student; writes model.zip, report.md and PNG plots.")
{
    data, preset, teacher, teacherWeights, teacherEpochs, student, method, epochs, batch, imageSize, learningRate, teacherLearningRate, trainLimit,
    teacherTrainLimit, validationLimit, seed, device, checkpoints, resume, augment, baseline, output,
};
distill.SetAction(result => Run(result.GetValue(verbose), () =>
{
    var settings = Settings(result);
    var display = new TrainingDisplay();
    var clock = Stopwatch.StartNew();
    var spec = settings.Spec;
    AnsiConsole.MarkupLine($"[bold]ScaleKD[/] {Markup.Escape($"{spec.Method}: {spec.Teacher.Model} → {spec.Student}, {spec.ImageSize} px, {spec.Epochs} epochs")}");
    var (teacherHistory, runs, dataSet) = display.Run(() => new DistillRunner(settings, display).Run());
    Report.Write(settings.Output, settings, dataSet, teacherHistory, runs, clock.Elapsed);
    AnsiConsole.MarkupLine($"[green]Done[/] in {clock.Elapsed:hh\\:mm\\:ss}. Report: {Markup.Escape(Path.Combine(settings.Output, "report.md"))}");
    AnsiConsole.MarkupLine(Markup.Escape($"Next: scalekd predict --model {runs[^1].ModelPath} IMAGE.png   |   scalekd evaluate --model {runs[^1].ModelPath} --data FOLDER"));
    return 0;
}));

var model = new Option<string>("--model") { Description = "A model zip written by distill.", Required = true };
var evaluateData = new Option<string?>("--data") { Description = "Labelled images (as for distill); default: Fashion-MNIST's test split." };
var limit = new Option<int?>("--limit") { Description = "Evaluate at most this many images." };
var evaluate = new Command("evaluate", "Accuracy, per-class metrics and the confusion matrix of a model zip on labelled images.") { model, evaluateData, limit };
evaluate.SetAction(result => Run(result.GetValue(verbose), () =>
    Commands.Evaluate(result.GetValue(model)!, result.GetValue(evaluateData), result.GetValue(limit))));

var images = new Argument<string[]>("images") { Description = "Image files to classify.", Arity = ArgumentArity.OneOrMore };
var top = new Option<int>("--top") { Description = "How many labels to show per image.", DefaultValueFactory = _ => 3 };
var predict = new Command("predict", "Classify image files with a model zip.") { model, images, top };
predict.SetAction(result => Run(result.GetValue(verbose), () =>
    Commands.Predict(result.GetValue(model)!, result.GetValue(images)!, result.GetValue(top))));

var students = new Option<string[]>("--students") { Description = "Students to compare.", DefaultValueFactory = _ => ["resnet_pico", "mixer_pico_patch4_32"], AllowMultipleArgumentsPerToken = true };
var methods = new Option<DistillationMethod[]>("--methods") { Description = "Methods to compare.", DefaultValueFactory = _ => [DistillationMethod.None, DistillationMethod.VanillaKD, DistillationMethod.ScaleKD], AllowMultipleArgumentsPerToken = true };
var seeds = new Option<int>("--seeds") { Description = "Runs per student and method (seeds 0…N−1).", DefaultValueFactory = _ => 3 };
var compare = new Command("compare", "Run several methods × students × seeds with the same teacher and write a mean ± std table (compare.md).")
{
    data, teacher, teacherWeights, teacherEpochs, students, methods, seeds, epochs, batch, imageSize, learningRate, teacherLearningRate, trainLimit, teacherTrainLimit,
    validationLimit, device, augment, output,
};
compare.SetAction(result => Run(result.GetValue(verbose), () =>
    Commands.Compare(Settings(result, forceQuickDefaults: true) with { Baseline = false }, result.GetValue(students)!, result.GetValue(methods)!, result.GetValue(seeds))));

var importWeights = new Option<string>("--weights") { Description = "A timm or Hugging Face safetensors checkpoint.", Required = true };
var importModel = new Option<string>("--teacher") { Description = "The architecture it should fit (timm name).", Required = true };
var classes = new Option<int>("--classes") { Description = "Classes of the head to check against (1000 for ImageNet checkpoints).", DefaultValueFactory = _ => 1000 };
var importSize = new Option<int>("--image-size") { Description = "Image size the teacher will see.", DefaultValueFactory = _ => 224 };
var importTeacher = new Command("import-teacher", "Check a safetensors checkpoint against a named architecture: missing, unexpected and mis-shaped keys.") { importModel, importWeights, classes, importSize };
importTeacher.SetAction(result => Run(result.GetValue(verbose), () =>
    Commands.ImportTeacher(result.GetValue(importModel)!, result.GetValue(importWeights)!, result.GetValue(classes), result.GetValue(importSize))));

var jobFolder = new Option<string>("--output") { Description = "The job folder to write.", Required = true };
var exportJob = new Command("export-job", "Prepare the teacher and write a PyTorch DDP job folder (job.json, weights, data, train.py) for the same distillation; run it with torchrun.")
{
    data, preset, teacher, teacherWeights, teacherEpochs, student, method, epochs, batch, imageSize, learningRate, teacherLearningRate, trainLimit,
    teacherTrainLimit, validationLimit, seed, augment, jobFolder,
};
exportJob.SetAction(result => Run(result.GetValue(verbose), () => JobCommands.ExportJob(Settings(result), result.GetValue(jobFolder)!)));

var job = new Option<string>("--job") { Description = "A job folder written by export-job, after torchrun has run it.", Required = true };
var zipOutput = new Option<string>("--output") { Description = "The model zip to write.", DefaultValueFactory = _ => "model.zip" };
var importStudent = new Command("import-student", "Turn the student a PyTorch job trained into a model zip, as distill writes it.") { job, zipOutput };
importStudent.SetAction(result => Run(result.GetValue(verbose), () => JobCommands.ImportStudent(result.GetValue(job)!, result.GetValue(zipOutput)!)));

var info = new Command("info", "Show which libtorch and device the tool uses.") { device };
info.SetAction(result => Run(result.GetValue(verbose), () => Commands.Info(result.GetValue(device) == "cuda")));

var root = new RootCommand("scalekd: distil vision transformers into small ML.NET image classifiers (ScaleKD, NeurIPS 2024).")
{
    distill, evaluate, predict, compare, importTeacher, exportJob, importStudent, info, verbose,
};
root.SetAction(result => distill.Parse([]).Invoke());
return root.Parse(args).Invoke();

// distill's options over the preset (the quick preset unless --preset none).
DistillSettings Settings(ParseResult result, bool forceQuickDefaults = false)
{
    var presetName = forceQuickDefaults ? "quick" : result.GetValue(preset) ?? "quick";
    var basis = presetName == "quick" ? DistillSettings.Quick : new DistillSettings();
    var spec = basis.Spec;
    var size = result.GetValue(imageSize) ?? spec.ImageSize;
    var checkpointDirectory = result.GetValue(checkpoints) ?? (result.GetValue(resume) ? Path.Combine(result.GetValue(output)!, "checkpoints") : null);
    return basis with
    {
        Spec = spec with
        {
            Teacher = spec.Teacher with
            {
                Model = result.GetValue(teacher) ?? spec.Teacher.Model,
                WeightsPath = result.GetValue(teacherWeights),
                Epochs = result.GetValue(teacherEpochs) ?? spec.Teacher.Epochs,
                Optimizer = result.GetValue(teacherLearningRate) is { } teacherLr ? OptimizerRecipe.AdamW(teacherLr) : spec.Teacher.Optimizer,
            },
            Student = result.GetValue(student) ?? spec.Student,
            Method = result.GetValue(method) ?? spec.Method,
            Epochs = result.GetValue(epochs) ?? spec.Epochs,
            BatchSize = result.GetValue(batch) ?? spec.BatchSize,
            ImageSize = size,
            Optimizer = result.GetValue(learningRate) is { } lr ? OptimizerRecipe.AdamW(lr) : spec.Optimizer,
            Seed = result.GetValue(seed) ?? spec.Seed,
            CheckpointDirectory = checkpointDirectory,
            Augmentation = result.GetValue(augment) is { } name ? DistillSettings.Augmentation(name, size)
                : spec.Augmentation is null ? null : spec.Augmentation with { ImageSize = size },
        },
        Data = result.GetValue(data),
        TrainLimit = result.GetValue(trainLimit) ?? basis.TrainLimit,
        TeacherTrainLimit = result.GetValue(teacherTrainLimit) ?? basis.TeacherTrainLimit,
        ValidationLimit = result.GetValue(validationLimit) ?? basis.ValidationLimit,
        Device = result.GetValue(device) ?? "cpu",
        Baseline = result.GetValue(baseline) ?? basis.Baseline,
        Output = result.GetValue(output)!,
    };
}

// Errors are one readable line and a hint; --verbose adds the details.
static int Run(bool verbose, Func<int> action)
{
    try
    {
        return action();
    }
    catch (Exception e) when (e is not OutOfMemoryException)
    {
        var (message, hint) = e switch
        {
            CliException cli => (cli.Message, cli.Hint),
            _ => (Innermost(e).Message, "run again with --verbose for the details"),
        };
        Console.Error.WriteLine($"error: {message}");
        Console.Error.WriteLine($"hint: {hint}");
        if (verbose)
            Console.Error.WriteLine(e);
        return 1;
    }
}

static Exception Innermost(Exception e)
{
    // ML.NET wraps loader failures in TargetInvocationException; the cause is what helps.
    while (e is System.Reflection.TargetInvocationException or TypeInitializationException && e.InnerException is not null)
        e = e.InnerException;
    return e;
}
