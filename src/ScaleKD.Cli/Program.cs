using System.CommandLine;
using System.Diagnostics;
using Microsoft.ML;
using ScaleKD.Cli;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.IO;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training.Optimization;
using Spectre.Console;

// scalekd: distil a vision transformer into a small ML.NET model from the command line. With no arguments it runs
// `distill --preset quick` on Fashion-MNIST.
var verbose = new Option<bool>("--verbose") { Description = "Show full error details (stack traces).", Recursive = true };

var data = new Option<string?>("--data") { Description = "An image folder (one sub-folder per class), a Fashion-MNIST IDX folder, or a TSV of label<TAB>path. Default: Fashion-MNIST from /usr/share/datasets/fashion-mnist." };
var preset = new Option<string>("--preset") { Description = "quick: the CPU demo (pretrained teacher probed once and cached, data-limited student, baseline for comparison); none: only your options over the library's defaults.", DefaultValueFactory = _ => "quick" };
var teacher = new Option<string?>("--teacher") { Description = "Teacher model: resnet18_imagenet_mlnet (default: ImageNet-pretrained, from ML.NET's package, probed on your labels), or a timm name such as vit_small_patch16_224 or swin_large_patch4_window7_224 (with --teacher-weights, or trained from scratch)." };
var teacherWeights = new Option<string?>("--teacher-weights") { Description = "Teacher weights: timm/Hugging Face safetensors (timm names), or a teacher saved by this tool. Without it a timm-named teacher is trained from scratch and cached." };
var teacherImageSize = new Option<int?>("--teacher-image-size") { Description = "Image size a pretrained teacher sees (resized from the student's); default: the student's, at least 64 for resnet18_imagenet_mlnet. Larger is more accurate and slower (it learned at 224)." };
var force = new Option<bool>("--force") { Description = "Distil even when the teacher is not clearly better than chance and than the student alone (the check then only warns)." };
var teacherEpochs = new Option<int?>("--teacher-epochs") { Description = "Epochs of from-scratch teacher training." };
var teacherFineTune = new Option<int?>("--teacher-finetune-epochs") { Description = "Fine-tune a pretrained teacher whole for this many epochs after its linear probe (backbone at a tenth of the head's learning rate; cached). Default 0: the probe alone." };
var student = new Option<string?>("--student") { Description = "Student model (timm name), e.g. resnet18, mobilenetv1_100, vit_small_patch16_224." };
var studentWeights = new Option<string?>("--student-weights") { Description = "Pretrained student weights (timm safetensors); a classifier for other classes is replaced." };
var method = new Option<DistillationMethod?>("--method") { Description = "ScaleKD, VanillaKD, FeatureKD, Dist or None." };
var epochs = new Option<int?>("--epochs") { Description = "Student epochs." };
var batch = new Option<int?>("--batch") { Description = "Images per step." };
var imageSize = new Option<int?>("--image-size") { Description = "Square image size in pixels (CNN students need 64 or more for ScaleKD)." };
var learningRate = new Option<double?>("--lr") { Description = "AdamW at this peak learning rate, with the AdamW warm-up and cosine, for any student; default: the official recipe for the student (LAMB for ResNet and MobileNetV1), scaled to the batch." };
var teacherLearningRate = new Option<double?>("--teacher-lr") { Description = "Peak learning rate of a from-scratch teacher (default: as --lr; 2e-3 in the quick preset)." };
var trainLimit = new Option<int?>("--train-limit") { Description = "Class-balanced subset of training images for the student (the teacher's are set by --teacher-train-limit)." };
var teacherTrainLimit = new Option<int?>("--teacher-train-limit") { Description = "Class-balanced subset of training images the teacher learns from: its linear probe, or its from-scratch training (default: all; 2,000 in the quick preset)." };
var validationLimit = new Option<int?>("--validation-limit") { Description = "Validation images (held out of the training data; they choose the best epoch and judge the teacher; the final accuracy is on the test split): at most this many (Fashion-MNIST: this many of its training split, default 5,000)." };
var seed = new Option<int?>("--seed") { Description = "Seed of the training run (initialisation, data order, augmentation); the data subsets are the same for every seed." };
var device = new Option<string>("--device") { Description = "cpu or cuda (CUDA needs an external libtorch build; see README).", DefaultValueFactory = _ => "cpu" };
device.AcceptOnlyFromAmong("cpu", "cuda");
var checkpoints = new Option<string?>("--checkpoint-dir") { Description = "Where the checkpoint of every epoch goes (default: OUTPUT/checkpoints); given, a later run with the same options resumes from it." };
var resume = new Option<bool>("--resume") { Description = "Resume from the checkpoint (--checkpoint-dir, default OUTPUT/checkpoints) after an interruption or Ctrl-C." };
var skipBadImages = new Option<bool>("--skip-bad-images") { Description = "Leave out (and list) image files that are missing or unreadable, instead of stopping before training." };
var augment = new Option<string?>("--augment") { Description = "official (crop, flip, RandAugment m9, erasing), light (crop and flip; the quick preset) or none." };
augment.AcceptOnlyFromAmong("official", "light", "none");
var baseline = new Option<bool?>("--baseline") { Description = "Also train the student without distillation and compare (on in the quick preset)." };
var output = new Option<string>("--output") { Description = "Folder for model.zip, report.md and the plots.", DefaultValueFactory = _ => "scalekd-output" };

var distill = new Command("distill", "Distil a teacher into a student; writes model.zip, report.md and PNG plots.")
{
    data, preset, teacher, teacherWeights, teacherImageSize, force, teacherEpochs, teacherFineTune, student, studentWeights, method, epochs, batch, imageSize, learningRate, teacherLearningRate, trainLimit,
    teacherTrainLimit, validationLimit, seed, device, checkpoints, resume, augment, baseline, skipBadImages, output,
};
distill.SetAction(result => Run(result.GetValue(verbose), () =>
{
    var settings = Settings(result, checkpointByDefault: true);
    using var stop = new GracefulStop();
    var display = new TrainingDisplay();
    var clock = Stopwatch.StartNew();
    var spec = settings.Spec;
    var methodsRun = settings.Baseline && spec.Method != DistillationMethod.None ? [DistillationMethod.None, spec.Method] : new[] { spec.Method };
    var dataSet = Preflight.Distill(new MLContext(seed: 0), settings, [spec.Student], methodsRun, result.GetValue(skipBadImages), display.Line);
    AnsiConsole.MarkupLine($"[bold]ScaleKD[/] {Markup.Escape($"{spec.Method}: {(spec.Method == DistillationMethod.None ? $"{spec.Student} alone" : $"{spec.Teacher.Model} → {spec.Student}")}, {spec.ImageSize} px, {spec.Epochs} epochs")}");
    var outcome = display.Run(() => new DistillRunner(settings, display, dataSet, stop.Token).Run());
    if (outcome.Stopped is { } stopped)
    {
        Console.WriteLine(stopped.ModelPath is { } saved
            ? $"Stopped after {stopped.Epochs} epoch{(stopped.Epochs == 1 ? "" : "s")} of the {stopped.Method} student: its best weights so far are saved in {saved}."
            : $"Stopped before the {stopped.Method} student finished an epoch: no model was saved.");
        Console.WriteLine(stopped.CheckpointDirectory is null
            ? "The run was not checkpointed, so it cannot be resumed."
            : $"Resume with: {ResumeCommand(args)}");
        return stop.ExitCode;
    }
    var runs = outcome.Students;
    try
    {
        Report.Write(settings.Output, settings, dataSet, outcome.Teacher, runs, clock.Elapsed);
    }
    catch (Exception e) when (e is not OutOfMemoryException)
    {
        throw CliException.AfterSaving($"Writing the report and plots failed: {CliException.Cause(e).Message}", runs[^1].ModelPath, e);
    }
    AnsiConsole.MarkupLine($"[green]Done[/] in {clock.Elapsed:hh\\:mm\\:ss}. Report: {Markup.Escape(Path.Combine(settings.Output, "report.md"))}");
    // On a folder or TSV, only the held-out fifth is fair to score; Fashion-MNIST's default for evaluate is its test split.
    var heldOutData = settings.Data is { } source && !DataSets.IsIdx(source) ? $" --data {Quote(source)} --held-out" : "";
    AnsiConsole.MarkupLine(Markup.Escape($"Next: scalekd predict --model {runs[^1].ModelPath} IMAGE.png   |   scalekd evaluate --model {runs[^1].ModelPath}{heldOutData}"));
    return 0;
}));

var model = new Option<string>("--model") { Description = "A model zip written by distill, or the stock model.zip written by export.", Required = true };
var evaluateModel = new Option<string?>("--model") { Description = "A model zip written by distill, or the stock model.zip written by export." };
var evaluateTeacher = new Option<string?>("--teacher") { Description = "Score a teacher file instead of a model zip: one distill prepared and cached (~/.cache/scalekd/teachers, NAME.safetensors with NAME.json beside it), or timm safetensors whose head predicts the data's classes (with --teacher-name)." };
var evaluateTeacherName = new Option<string?>("--teacher-name") { Description = "The model of timm safetensors given to --teacher, e.g. vit_small_patch16_224." };
var evaluateImageSize = new Option<int?>("--image-size") { Description = "Image size a timm teacher sees (default 224; a saved teacher uses its own)." };
var evaluateData = new Option<string?>("--data") { Description = "Labelled images (as for distill); default: Fashion-MNIST's test split." };
var limit = new Option<int?>("--limit") { Description = "Evaluate at most this many images (class-balanced)." };
var heldOut = new Option<bool>("--held-out") { Description = "Score only the test fifth of an image folder or TSV that distill holds out (default: every image)." };
var json = new Option<bool>("--json") { Description = "Print JSON instead of tables: predict one object per image and line, evaluate one object." };
var evaluate = new Command("evaluate", "Accuracy, per-class metrics and the confusion matrix of a model zip (or a teacher file) on labelled images.")
{
    evaluateModel, evaluateTeacher, evaluateTeacherName, evaluateImageSize, evaluateData, limit, heldOut, skipBadImages, json,
};
evaluate.SetAction(result => Run(result.GetValue(verbose), () =>
    result.GetValue(evaluateTeacher) is null && (result.GetValue(evaluateTeacherName) is not null || result.GetValue(evaluateImageSize) is not null)
        ? throw new CliException("--teacher-name and --image-size describe a teacher file, and no --teacher was given.", "scalekd evaluate --teacher FILE --teacher-name NAME")
        : Commands.Evaluate(result.GetValue(evaluateModel), result.GetValue(evaluateData), result.GetValue(limit), result.GetValue(heldOut), result.GetValue(skipBadImages),
        result.GetValue(json), result.GetValue(evaluateTeacher) is { } teacherFile
            ? new Commands.TeacherToScore(teacherFile, result.GetValue(evaluateTeacherName), result.GetValue(evaluateImageSize)) : null)));

var images = new Argument<string[]>("images") { Description = "Image files to classify.", Arity = ArgumentArity.OneOrMore };
var top = new Option<int>("--top") { Description = "How many labels to show per image.", DefaultValueFactory = _ => 3 };
var predict = new Command("predict", "Classify image files with a model zip.") { model, images, top, json };
predict.SetAction(result => Run(result.GetValue(verbose), () =>
    Commands.Predict(result.GetValue(model)!, result.GetValue(images)!, result.GetValue(top), result.GetValue(json))));

var exportModel = new Option<string>("--model") { Description = "A model zip with a ScaleKD student (written by distill, or any ML.NET zip that holds one).", Required = true };
var onnxFolder = new Option<string>("--onnx") { Description = "Folder for student.onnx and model.zip (a zip that stock ML.NET scores, without libtorch).", Required = true };
var export = new Command("export", "Export the student as ONNX (student.onnx) and as a stock ML.NET zip (model.zip: ImagePath in; Score, PredictedLabel out).") { exportModel, onnxFolder };
export.SetAction(result => Run(result.GetValue(verbose), () => Commands.Export(result.GetValue(exportModel)!, result.GetValue(onnxFolder)!)));

var students = new Option<string[]>("--students") { Description = "Students to compare.", DefaultValueFactory = _ => ["resnet_pico", "mixer_pico_patch4_32"], AllowMultipleArgumentsPerToken = true };
var methods = new Option<DistillationMethod[]>("--methods") { Description = "Methods to compare.", DefaultValueFactory = _ => [DistillationMethod.None, DistillationMethod.VanillaKD, DistillationMethod.ScaleKD], AllowMultipleArgumentsPerToken = true };
var ablation = new Option<string[]>("--ablation")
{
    Description = "Instead of --methods, ScaleKD's parts added one at a time, as in the paper's component table: alone (the student alone); logit (logit KD); cap (+ cross attention projector with the spatial view); frequency (+ frequency view); tpp (+ teacher parameter perception). Alone: all five columns; followed by some of these names: those columns only.",
    Arity = ArgumentArity.ZeroOrMore, AllowMultipleArgumentsPerToken = true,
};
var trainLimits = new Option<int[]?>("--train-limits") { Description = "A data-efficiency study: every column and seed at each of these numbers of labelled student images (class-balanced; the teacher's stay as they are); writes study.png, accuracy against labelled images. Replaces --train-limit.", AllowMultipleArgumentsPerToken = true };
var seeds = new Option<int>("--seeds") { Description = "Runs per student and method (seeds 0…N−1, or from --first-seed).", DefaultValueFactory = _ => 3 };
var firstSeed = new Option<int>("--first-seed") { Description = "The first run's seed: --first-seed 3 --seeds 2 runs seeds 3 and 4, to add seeds to a table another run began.", DefaultValueFactory = _ => 0 };
var compare = new Command("compare", "Run several methods × students × seeds with the same teacher and write a mean ± std table (compare.md).")
{
    data, teacher, teacherWeights, teacherImageSize, force, teacherEpochs, teacherFineTune, students, methods, ablation, trainLimits, seeds, firstSeed, epochs, batch, imageSize, learningRate, teacherLearningRate, trainLimit, teacherTrainLimit,
    validationLimit, device, augment, skipBadImages, output,
};
compare.SetAction(result => Run(result.GetValue(verbose), () =>
    CompareCommand.Compare(Settings(result, forceQuickDefaults: true) with { Baseline = false }, result.GetValue(students)!,
        result.GetResult(ablation) is null ? CompareArm.ForMethods(result.GetValue(methods)!) : CompareArm.AblationColumns(result.GetValue(ablation) ?? []),
        result.GetValue(seeds), result.GetValue(skipBadImages), result.GetValue(trainLimits), result.GetValue(firstSeed))));

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
    data, preset, teacher, teacherWeights, teacherImageSize, teacherEpochs, teacherFineTune, student, studentWeights, method, epochs, batch, imageSize,
    learningRate, teacherLearningRate, trainLimit, teacherTrainLimit, validationLimit, seed, augment, jobFolder,
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
    distill, evaluate, predict, export, compare, importTeacher, exportJob, importStudent, info, verbose,
};
root.SetAction(result => distill.Parse([]).Invoke());
return root.Parse(args).Invoke();

// The command line again, with --resume unless it resumes already (a --checkpoint-dir given resumes by itself).
string ResumeCommand(string[] arguments)
{
    var resumes = arguments.Contains("--resume") || arguments.Any(a => a == "--checkpoint-dir" || a.StartsWith("--checkpoint-dir=", StringComparison.Ordinal));
    var command = arguments.Length == 0 ? ["distill"] : arguments;
    return "scalekd " + string.Join(' ', command.Select(Quote)) + (resumes ? "" : " --resume");
}

static string Quote(string argument) =>
    argument.Length > 0 && argument.All(c => char.IsLetterOrDigit(c) || "-_./=:,+@%".Contains(c)) ? argument : "'" + argument.Replace("'", "'\\''") + "'";

// distill's options over the preset (the quick preset unless --preset none). checkpointByDefault: every epoch is
// checkpointed (into OUTPUT/checkpoints unless --checkpoint-dir says otherwise), so a stopped run can be resumed; a
// checkpoint is resumed only when asked (--resume or --checkpoint-dir), so a plain rerun starts afresh.
DistillSettings Settings(ParseResult result, bool forceQuickDefaults = false, bool checkpointByDefault = false)
{
    var presetName = forceQuickDefaults ? "quick" : result.GetValue(preset) ?? "quick";
    var basis = presetName == "quick" ? DistillSettings.Quick : DistillSettings.Plain;
    var spec = basis.Spec;
    var size = result.GetValue(imageSize) ?? spec.ImageSize;
    var explicitCheckpoints = result.GetValue(checkpoints);
    var resumeAsked = result.GetValue(resume) || explicitCheckpoints is not null;
    var checkpointDirectory = explicitCheckpoints ?? (resumeAsked || checkpointByDefault ? Path.Combine(result.GetValue(output)!, "checkpoints") : null);
    return basis with
    {
        Spec = spec with
        {
            Teacher = spec.Teacher with
            {
                Model = result.GetValue(teacher) ?? spec.Teacher.Model,
                WeightsPath = result.GetValue(teacherWeights),
                ImageSize = result.GetValue(teacherImageSize) ?? spec.Teacher.ImageSize,
                Epochs = result.GetValue(teacherEpochs) ?? spec.Teacher.Epochs,
                FineTuneEpochs = result.GetValue(teacherFineTune) ?? spec.Teacher.FineTuneEpochs,
                Optimizer = result.GetValue(teacherLearningRate) is { } teacherLr ? OptimizerRecipe.AdamW(teacherLr) : spec.Teacher.Optimizer,
            },
            Student = result.GetValue(student) ?? spec.Student,
            StudentWeightsPath = result.GetValue(studentWeights) ?? spec.StudentWeightsPath,
            Method = result.GetValue(method) ?? spec.Method,
            Epochs = result.GetValue(epochs) ?? spec.Epochs,
            // Epochs asked for on the command line are kept: the small-data step budget only raises default ones.
            MinimumSteps = result.GetValue(epochs) is null ? spec.MinimumSteps : 0,
            BatchSize = result.GetValue(batch) ?? spec.BatchSize,
            ImageSize = size,
            Optimizer = result.GetValue(learningRate) is { } lr ? OptimizerRecipe.AdamW(lr) : spec.Optimizer,
            Seed = result.GetValue(seed) ?? spec.Seed,
            TeacherCheck = result.GetValue(force) ? spec.TeacherCheck with { Policy = WeakTeacherPolicy.Warn } : spec.TeacherCheck,
            CheckpointDirectory = checkpointDirectory,
            Resume = resumeAsked,
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
        var cause = CliException.Cause(e);
        var (message, hint) = cause switch
        {
            CliException cli => (cli.Message, cli.Hint),
            FileWriteException write => (write.Message, "free some disk space (or make the folder writable) and run again"),
            // An argument's name is the library's, not an option the user typed: keep the message, drop the suffix.
            ArgumentException { ParamName: { } name } argument => (argument.Message.Replace($" (Parameter '{name}')", ""), "run again with --verbose for the details"),
            _ => (cause.Message, "run again with --verbose for the details"),
        };
        Console.Error.WriteLine($"error: {message}");
        Console.Error.WriteLine($"hint: {hint}");
        if (verbose)
            Console.Error.WriteLine(e);
        return 1;
    }
}
