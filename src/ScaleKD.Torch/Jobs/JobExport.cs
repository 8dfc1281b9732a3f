using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.IO;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Onnx;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Optimization;
using ScaleKD.Torch.Weights;

namespace ScaleKD.Torch.Jobs;

/// <summary>
/// Writes a self-contained job folder that PyTorch DDP runs (<c>torchrun JOB/train.py</c>): <c>job.json</c>
/// (<see cref="JobSettings"/>), the prepared teacher, the student's and the projectors' initial weights, the data, and
/// <c>train.py</c> with the <c>scalekd</c> Python package. The teacher is prepared by <see cref="TeacherPreparation"/>
/// and the student and objective are created in the order <see cref="DistillationTrainer"/> creates them, so the job
/// starts from the weights <c>scalekd distill</c> would start from. A teacher imported from ONNX
/// (<see cref="OnnxCnn"/>, such as the default <c>resnet18_imagenet_mlnet</c>) travels as its ONNX graph as well
/// (<see cref="TeacherOnnxFile"/>, without the weights), from which the package rebuilds it.
/// </summary>
public static class JobExport
{
    /// <summary>The student's initial weights in a job folder.</summary>
    public const string StudentInitFile = "student_init.safetensors";

    /// <summary>The initial weights of the objective's own modules (ScaleKD's projectors, FitNet's regressor).</summary>
    public const string ObjectiveInitFile = "objective_init.safetensors";

    /// <summary>The trained student rank 0 writes.</summary>
    public const string StudentFile = "student.safetensors";

    /// <summary>The graph of a teacher imported from ONNX: the file it was loaded from, without its weights.</summary>
    public const string TeacherOnnxFile = "teacher.onnx";

    /// <summary>Writes the job into <paramref name="folder"/>.</summary>
    /// <param name="spec">The distillation; its batch size is the global batch of the job.</param>
    /// <param name="classNames">The classes, by label index.</param>
    /// <param name="data">The training images.</param>
    /// <param name="teacherData">What a teacher trained from scratch or probed learns from (null: only saved or
    /// pretrained teachers whose head fits can be used).</param>
    /// <param name="pythonDirectory">The folder holding <c>train.py</c> and the <c>scalekd</c> package (shipped beside
    /// the tool as <c>python/</c>).</param>
    /// <param name="log">One line per decision.</param>
    /// <exception cref="NotSupportedException">The spec asks for something the Python runner does not implement; the
    /// message names the setting.</exception>
    /// <exception cref="IOException"><paramref name="folder"/> exists and is not empty.</exception>
    public static JobSettings Write(DistillationSpec spec, IReadOnlyList<string> classNames, JobData data, TeacherData? teacherData,
        string folder, string pythonDirectory, IProgress<string>? log = null)
    {
        spec.Validate();
        CheckSupported(spec);
        // A previous job's checkpoint, student or metrics left beside a new job.json would be taken for this job's.
        if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            throw new IOException($"'{folder}' is not empty; write the job to a new folder (or delete this one: a previous job's checkpoints and student would otherwise be taken for the new job's).");
        if (data.Count < spec.BatchSize)
            throw new ArgumentException($"The training data has {data.Count} images, fewer than one batch of {spec.BatchSize}; lower the batch size.", nameof(data));
        var cpu = spec with { Backend = spec.Backend with { UseCuda = false } };
        using var teacher = spec.Method == DistillationMethod.None ? null : PrepareTeacher(cpu, classNames, teacherData, log);
        // Only now: a teacher that cannot be prepared leaves no empty job folder behind.
        Directory.CreateDirectory(folder);
        // As every front end builds it: the run's seed, or pretrained weights (StudentWeightsPath) with a new head.
        using var student = StudentFactory.Create(spec, classNames.Count, log);
        using var objective = DistillationObjective.Create(spec.Method, student, teacher?.Model, spec.Objective);

        SafetensorsWeights.Save(student, Path.Combine(folder, StudentInitFile));
        JobModel? teacherModel = null;
        if (teacher is not null)
        {
            teacherModel = new JobModel(spec.Teacher.Model, teacher.Model.Options.ImageSize, "teacher.safetensors", OnnxGraphOf(teacher.Model, folder));
            SafetensorsWeights.Save(teacher.Model, Path.Combine(folder, teacherModel.Weights));
        }
        var objectiveSettings = Objective(spec, student, objective);
        if (objectiveSettings.Weights is { } objectiveWeights)
            SafetensorsWeights.Save(objective, Path.Combine(folder, objectiveWeights));

        var recipe = spec.OptimizerFor(student.Family);
        var stepsPerEpoch = data.Count / spec.BatchSize;
        var augmentation = spec.AugmentationFor(spec.ImageSize);
        var settings = new JobSettings
        {
            Spec = spec,
            ClassNames = classNames,
            ImageSize = spec.ImageSize,
            Epochs = spec.Epochs,
            BatchSize = spec.BatchSize,
            Seed = spec.Seed,
            Method = spec.Method.ToString(),
            Student = new JobModel(spec.Student, spec.ImageSize, StudentInitFile),
            Teacher = teacherModel,
            Objective = objectiveSettings,
            Optimizer = new JobOptimizer(recipe.Kind.ToString(), recipe.LearningRate, recipe.WeightDecay, [recipe.Beta1, recipe.Beta2],
                recipe.ResolvedEpsilon, recipe.ExcludeOneDimensionalFromWeightDecay, recipe.NoWeightDecayNames, recipe.LambMaxGradNorm,
                recipe.Momentum, recipe.Nesterov),
            Schedule = JobSchedule.Of(recipe.CreateSchedule(stepsPerEpoch, spec.Epochs), stepsPerEpoch, spec.Epochs),
            GradientClipNorm = spec.GradientClipNorm,
            Ema = spec.EmaFor(student.Family),
            Augmentation = new JobAugmentation(augmentation.Enabled, augmentation.ImageSize, [augmentation.CropScaleMin, augmentation.CropScaleMax],
                [augmentation.CropRatioMin, augmentation.CropRatioMax], augmentation.HorizontalFlipProbability, augmentation.Mean, augmentation.Std,
                augmentation.EffectiveEvalCropFraction, RandAugmentOf(augmentation), ErasingOf(augmentation)),
            Data = WriteData(data, folder, (int)Math.Floor(spec.ImageSize / augmentation.EffectiveEvalCropFraction)),
            Bf16AutocastOnCuda = spec.TeacherBFloat16OnCuda || spec.StudentBFloat16OnCuda,
        };
        PythonRunner.CopyInto(pythonDirectory, folder);
        settings.Write(folder);
        log?.Report($"wrote the job to {folder}: {data.Count} images, {stepsPerEpoch} step{(stepsPerEpoch == 1 ? "" : "s")} of {spec.BatchSize} per epoch, {spec.Epochs} epoch{(spec.Epochs == 1 ? "" : "s")}.");
        return settings;
    }

    /// <summary>What python/scalekd does not implement is refused here, before any work, naming the setting.</summary>
    static void CheckSupported(DistillationSpec spec)
    {
        if (!PythonRunner.Models.Contains(spec.Student))
            throw new NotSupportedException($"The PyTorch job cannot build the student '{spec.Student}'; it builds {string.Join(", ", PythonRunner.Models.Order())}.");
        if (spec.Method != DistillationMethod.None && !PythonRunner.Models.Contains(spec.Teacher.Model) && !PythonRunner.OnnxModels.Contains(spec.Teacher.Model))
            throw new NotSupportedException($"The PyTorch job cannot build the teacher '{spec.Teacher.Model}'; it builds " +
                $"{string.Join(", ", PythonRunner.Models.Order())}, and from their ONNX file {string.Join(", ", PythonRunner.OnnxModels.Order())}.");
        if (spec.Method == DistillationMethod.ScaleKD && !spec.Objective.ScaleKD.UseCrossAttentionProjector)
            throw new NotSupportedException("The PyTorch job has no pooling projector; keep ScaleKD.UseCrossAttentionProjector on.");
        var augmentation = spec.AugmentationFor(spec.ImageSize);
        if (augmentation.Interpolation != Training.Augmentation.ResizeInterpolation.Bilinear)
            throw new NotSupportedException("The PyTorch job resizes bilinearly; set Augmentation.Interpolation to Bilinear.");
    }

    static JobRandAugment? RandAugmentOf(AugmentationOptions augmentation) =>
        augmentation is { Enabled: true, RandAugment: { } r }
            ? new JobRandAugment(r.OpsPerImage, r.Magnitude, r.MagnitudeStd, r.MagnitudeMax, r.Probability, r.Increasing,
                r.TranslateFraction, augmentation.RandAugmentFill)
            : null;

    static JobErasing? ErasingOf(AugmentationOptions augmentation)
    {
        if (!augmentation.Enabled || augmentation.ErasingProbability == 0)
            return null;
        var erasing = TrainAugmentation.ErasingFor(augmentation);
        var mode = erasing.Mode switch { ErasingMode.Pixel => "pixel", ErasingMode.RandomColor => "rand", _ => "const" };
        return new JobErasing(erasing.Probability, mode, [erasing.Area.Min, erasing.Area.Max], [erasing.LogAspect.Min, erasing.LogAspect.Max],
            [erasing.Count.Min, erasing.Count.Max]);
    }

    static PreparedTeacher PrepareTeacher(DistillationSpec spec, IReadOnlyList<string> classNames, TeacherData? teacherData, IProgress<string>? log)
    {
        // Only a teacher this library saved needs no images (a from-scratch teacher trains on them, and a pretrained
        // one may need its head probed on them).
        if (teacherData is null && !(spec.Teacher.WeightsPath is { } weights && TeacherFiles.Exists(weights)))
            throw new NotSupportedException("Preparing this teacher needs training images that the job export can read (an IDX folder such as " +
                "Fashion-MNIST); with image files, give a teacher saved by scalekd (--teacher-weights).");
        var prepared = new TeacherPreparation(spec, log).Prepare(teacherData ?? new TeacherData(new EmptySource(classNames)));
        if (prepared.Model.Options.NumClasses != classNames.Count)
            throw new InvalidDataException($"The teacher predicts {prepared.Model.Options.NumClasses} classes; the data has {classNames.Count}.");
        return prepared;
    }

    /// <summary>For a teacher imported from ONNX, its ONNX graph written into the job (without the weights, which
    /// teacher.safetensors carries) and its input convention; null for a teacher the package defines.</summary>
    static JobOnnxGraph? OnnxGraphOf(VisionModel teacher, string folder)
    {
        if (teacher is not OnnxCnn onnx)
            return null;
        var source = onnx.Graph.SourcePath
            ?? throw new NotSupportedException($"The teacher {teacher.GetName()} was built from an ONNX graph in memory; the PyTorch job needs its ONNX file.");
        OnnxWeightFreeCopy.Write(source, Path.Combine(folder, TeacherOnnxFile));
        return new JobOnnxGraph(TeacherOnnxFile, onnx.InputConvention.Bgr, onnx.InputConvention.PixelScale, onnx.InputMeanShape?.ToArray(), onnx.InputStdShape?.ToArray());
    }

    static JobObjective Objective(DistillationSpec spec, VisionModel student, DistillationObjective objective)
    {
        var o = spec.Objective;
        var logits = new JobObjective(o.KdWeight, o.Temperature, o.LabelSmoothingFor(student.Family));
        if (objective is FeatureDistillationObjective fitNet)
            return logits with { Weights = ObjectiveInitFile, HintWeight = fitNet.HintWeight };
        if (objective.Method == DistillationMethod.Dist)
            return logits with { DistBeta = DistRelationLoss.DefaultBeta, DistGamma = DistRelationLoss.DefaultGamma };
        if (objective is not ScaleKDObjective scaleKD)
            return logits;
        var s = scaleKD.Settings;
        return new JobObjective(s.KdWeight, s.Temperature, s.LabelSmoothing, ObjectiveInitFile, s.SpatialWeight, s.FrequencyWeight,
            s.Stage3Heads, s.Stage4Heads, s.SoftmaxScale, s.Stem == ProjectorStem.LayerNorm, s.UseTeacherParameterPerception, s.UseFrequencyView);
    }

    static JobDataFiles WriteData(JobData data, string folder, int storageSize)
    {
        var dataFolder = Path.Combine(folder, "data");
        Directory.CreateDirectory(dataFolder);
        switch (data)
        {
            case JobData.Idx idx:
                var images = "data/" + Path.GetFileName(idx.ImagesPath);
                var labels = "data/" + Path.GetFileName(idx.LabelsPath);
                CopyAtomically(idx.ImagesPath, Path.Combine(folder, images));
                CopyAtomically(idx.LabelsPath, Path.Combine(folder, labels));
                return new JobDataFiles("idx", data.Count, images, labels, idx.Indices);
            case JobData.Files files:
                const string manifest = "data/train.tsv";
                AtomicFile.WriteAllText(Path.Combine(folder, manifest),
                    string.Concat(files.Images.Select(f => $"{f.Label}\t{Path.GetFullPath(f.Path)}\n")));
                return new JobDataFiles("manifest", data.Count, Manifest: manifest, StorageSize: storageSize);
            default:
                throw new ArgumentOutOfRangeException(nameof(data), data, "Unknown job data.");
        }
    }

    static void CopyAtomically(string source, string target)
    {
        if (!File.Exists(source))
            throw new FileNotFoundException($"'{source}' is missing.", source);
        AtomicFile.Write(target, stream =>
        {
            using var input = File.OpenRead(source);
            input.CopyTo(stream);
        });
    }
}
