using System.Globalization;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Optimization;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Teachers;

/// <summary>
/// Prepares the teacher of a <see cref="DistillationSpec"/>, behind one call, for every front end (the ML.NET trainer,
/// the command line):
/// <list type="bullet">
/// <item>a teacher this library saved is loaded as it is;</item>
/// <item>pretrained weights are imported by timm name, and when their head does not fit the data's classes a linear
/// probe fits a new one on the frozen features;</item>
/// <item>a built-in pretrained network (<see cref="ModelRegistry.IsBuiltInPretrained"/>, the default teacher) gets a
/// linear probe on the data's classes, its head (a few KB) cached for later runs on the same data;</item>
/// <item>without weights the teacher is trained from scratch, or taken from the cache when the same teacher was trained
/// before, then saved and cached.</item>
/// </list>
/// Initial weights come from the run's seed, so the same spec prepares the same teacher. Each way in is one method;
/// another importer (an ONNX CNN teacher) or a step after import (fine-tuning) is one more method called from
/// <see cref="Prepare"/>.
/// </summary>
/// <param name="spec">The run; its <see cref="DistillationSpec.Teacher"/> says how to prepare the teacher.</param>
/// <param name="log">Receives one line per decision and result (what was loaded, probed or trained, and how well).</param>
/// <param name="trainingProgress">Receives the progress of from-scratch training.</param>
/// <param name="checkAlive">Asked after every training step; throws <see cref="OperationCanceledException"/> to stop.</param>
public sealed class TeacherPreparation(DistillationSpec spec, IProgress<string>? log = null,
    IProgress<DistillationProgress>? trainingProgress = null, Action? checkAlive = null)
{
    /// <summary>The teacher for <paramref name="data"/>'s classes at the spec's image size, on the spec's device.</summary>
    /// <exception cref="InvalidDataException">Saved or pretrained weights do not fit the architecture, classes or size.</exception>
    public PreparedTeacher Prepare(TeacherData data, CancellationToken cancellationToken = default)
    {
        spec.Validate();
        var options = new ModelOptions(data.Train.ClassCount, spec.Teacher.ImageSizeFor(spec.ImageSize));
        var device = TorchBackend.Initialize(spec.Backend).Device;
        if (spec.Teacher.WeightsPath is { } weights)
            return TeacherFiles.Exists(weights)
                ? LoadSaved(weights, options, TeacherOrigin.Saved, device)
                : ImportPretrained(weights, options, data, device, cancellationToken);
        if (ModelRegistry.IsBuiltInPretrained(spec.Teacher.Model))
            return ProbeBuiltIn(options, data, device, cancellationToken);
        var cached = TeacherCache.PathFor(spec, data.CacheKey);
        return cached is not null && TeacherFiles.Exists(cached)
            ? LoadSaved(cached, options, TeacherOrigin.Cached, device)
            : TrainFromScratch(options, data, cached, cancellationToken);
    }

    int Seed => spec.Teacher.Seed ?? spec.Seed;

    PreparedTeacher LoadSaved(string path, ModelOptions options, TeacherOrigin origin, Device device)
    {
        var (teacher, description) = TeacherFiles.Load(path);
        if (teacher.Options.NumClasses != options.NumClasses || teacher.Options.ImageSize != options.ImageSize)
        {
            teacher.Dispose();
            throw new InvalidDataException($"The saved teacher '{path}' has {description.Options.NumClasses} classes at {description.Options.ImageSize} px; " +
                $"this data needs {options.NumClasses} at {options.ImageSize} px.");
        }
        log?.Report($"loaded the saved teacher {description.Model} from {path}" +
            (description.ValidationTop1 is { } top1 ? $" (validation top-1 {top1:P1} when saved)." : "."));
        teacher.to(device);
        return new PreparedTeacher(teacher, origin, description.ValidationTop1, [], path);
    }

    PreparedTeacher ImportPretrained(string path, ModelOptions options, TeacherData data, Device device, CancellationToken cancellationToken)
    {
        var teacher = ModelRegistry.Create(spec.Teacher.Model, options, Seed + 1);
        var import = PretrainedWeights.Import(teacher, path);
        teacher.to(device);
        if (import.ClassifierLoaded)
            return new PreparedTeacher(teacher, TeacherOrigin.Pretrained, null, [], path);
        log?.Report($"the teacher's head ({string.Join(", ", import.SkippedKeys)}) does not fit {options.NumClasses} classes; fitting a linear probe.");
        var probe = FitHead(teacher, data, device, cancellationToken);
        return spec.Teacher.FineTuneEpochs > 0
            ? FineTune(teacher, probe.ValidationTop1, data, null, cancellationToken)
            : new PreparedTeacher(teacher, TeacherOrigin.PretrainedWithProbe, probe.ValidationTop1, [], path);
    }

    /// <summary>A built-in pretrained network with a probed head: from the cache when this data was probed before.</summary>
    PreparedTeacher ProbeBuiltIn(ModelOptions options, TeacherData data, Device device, CancellationToken cancellationToken)
    {
        var fineTuned = spec.Teacher.FineTuneEpochs > 0 ? TeacherCache.FineTunedPathFor(spec, data.CacheKey) : null;
        if (fineTuned is not null && TeacherFiles.Exists(fineTuned))
            return LoadSaved(fineTuned, options, TeacherOrigin.Cached, device);
        var prepared = ProbeBuiltInHead(options, data, device, cancellationToken);
        return spec.Teacher.FineTuneEpochs > 0 ? FineTune(prepared.Model, prepared.ValidationTop1, data, fineTuned, cancellationToken) : prepared;
    }

    PreparedTeacher ProbeBuiltInHead(ModelOptions options, TeacherData data, Device device, CancellationToken cancellationToken)
    {
        var teacher = ModelRegistry.Create(spec.Teacher.Model, options, Seed + 1);
        teacher.to(device);
        var cached = TeacherCache.HeadPathFor(spec, data.CacheKey);
        if (cached is not null && TeacherFiles.HeadExists(cached))
        {
            var description = TeacherFiles.LoadHead(teacher, cached);
            log?.Report($"{spec.Teacher.Model} (pretrained, {options.ImageSize} px) with the head probed before on these classes, from {cached}" +
                (description.ValidationTop1 is { } top1 ? $" (validation top-1 {top1:P1})." : "."));
            return new PreparedTeacher(teacher, TeacherOrigin.PretrainedWithProbe, description.ValidationTop1, [], cached);
        }
        log?.Report($"{spec.Teacher.Model} (pretrained on ImageNet) at {options.ImageSize} px: fitting a linear probe on {data.Train.Count} labelled images.");
        var probe = FitHead(teacher, data, device, cancellationToken);
        if (cached is not null)
            TeacherFiles.SaveHead(teacher, new TeacherDescription(spec.Teacher.Model, options, data.Train.ClassNames, probe.ValidationTop1), cached);
        return new PreparedTeacher(teacher, TeacherOrigin.PretrainedWithProbe, probe.ValidationTop1, [], cached);
    }

    /// <summary>A linear probe on the frozen features, the images resized and normalised as the student sees them,
    /// without a crop margin, then brought to the teacher's own size as during distillation.</summary>
    LinearProbeResult FitHead(VisionModel teacher, TeacherData data, Device device, CancellationToken cancellationToken)
    {
        var augmentation = spec.AugmentationFor(spec.ImageSize);
        var evaluation = new EvalTransform(AugmentationOptions.Disabled(spec.ImageSize) with
        {
            Mean = augmentation.Mean, Std = augmentation.Std, EvalCropFraction = 1.0,
        });
        var probe = LinearProbe.Fit(teacher, data.Train, data.Validation,
            batch => FrozenTeacher.AtTeacherSize(teacher, evaluation.Apply(batch).to(device)), spec.Teacher.LinearProbe, log, cancellationToken);
        log?.Report($"linear probe: train top-1 {probe.TrainTop1:P1}" + (probe.ValidationTop1 is { } v ? $", validation top-1 {v:P1}." : "."));
        return probe;
    }

    /// <summary>Fine-tunes a pretrained teacher whole, its probed head at the full learning rate and its backbone slower,
    /// at the teacher's own image size, and caches it unless the run was stopped.</summary>
    PreparedTeacher FineTune(VisionModel teacher, double? probeTop1, TeacherData data, string? cachePath, CancellationToken cancellationToken)
    {
        var t = spec.Teacher;
        var size = teacher.Options.ImageSize;
        var head = PretrainedWeights.ClassifierKeys(teacher);
        var run = spec.ForTeacherTraining() with
        {
            Epochs = t.FineTuneEpochs,
            MinimumSteps = 0,
            ImageSize = size,
            Augmentation = spec.AugmentationFor(spec.ImageSize) with { ImageSize = size },
            Optimizer = OptimizerRecipe.AdamW(t.FineTuneLearningRate) with
            {
                HeadNames = [.. head],
                BackboneLearningRateScale = t.FineTuneBackboneScale,
                Description = string.Create(CultureInfo.InvariantCulture,
                    $"teacher fine-tuning: AdamW, head lr {t.FineTuneLearningRate:G3}, backbone lr {t.FineTuneLearningRate * t.FineTuneBackboneScale:G3}, wd 0.05, warm-up and cosine"),
            },
        };
        // The probe froze the backbone; fine-tuning trains every parameter (FrozenTeacher freezes them again to distil).
        foreach (var parameter in teacher.parameters())
            parameter.requires_grad = true;
        log?.Report(string.Create(CultureInfo.InvariantCulture,
            $"fine-tuning the whole teacher for {t.FineTuneEpochs} epochs on {data.Train.Count} labelled images at {size} px (head lr {t.FineTuneLearningRate:G3}, backbone ×{t.FineTuneBackboneScale:G3})."));
        var result = new DistillationTrainer(run, checkAlive).Fit(teacher, null, data.Train, data.Validation, trainingProgress, cancellationToken);
        var accuracy = result.History.LastOrDefault(h => h.Epoch == (result.BestEpoch ?? h.Epoch))?.ValidationTop1;
        log?.Report((result.StopReason == StopReason.Cancelled ? "teacher's fine-tuning stopped before its last epoch (so it is not cached)" : "teacher fine-tuned") +
                    (accuracy is { } a ? $": validation top-1 {a:P1}" : "") +
                    (probeTop1 is { } p ? $" (linear probe alone: {p:P1})." : "."));
        if (cachePath is not null && result.StopReason != StopReason.Cancelled)
            TeacherFiles.Save(teacher, new TeacherDescription(t.Model, teacher.Options, data.Train.ClassNames, accuracy), cachePath);
        return new PreparedTeacher(teacher, TeacherOrigin.FineTuned, accuracy, result.History, cachePath);
    }

    PreparedTeacher TrainFromScratch(ModelOptions options, TeacherData data, string? cachePath, CancellationToken cancellationToken)
    {
        log?.Report($"no teacher weights given; training {spec.Teacher.Model} from scratch for {spec.Teacher.Epochs} epochs.");
        var run = spec.ForTeacherTraining();
        var teacher = ModelRegistry.Create(spec.Teacher.Model, options, Seed + 1);
        var result = new DistillationTrainer(run, checkAlive).Fit(teacher, null, data.Train, data.Validation, trainingProgress, cancellationToken);
        var accuracy = result.History.LastOrDefault(h => h.Epoch == (result.BestEpoch ?? h.Epoch))?.ValidationTop1;
        log?.Report((result.StopReason == StopReason.Cancelled ? "teacher's training stopped before its last epoch (so it is not cached)" : "teacher trained") +
                    (accuracy is { } a ? $", validation top-1 {a:P1}." : "."));
        var description = new TeacherDescription(spec.Teacher.Model, options, data.Train.ClassNames, accuracy);
        if (spec.Teacher.SavePath is { } savePath)
            TeacherFiles.Save(teacher, description, savePath);
        // A teacher whose training was cut short is not the one these settings describe, so it is not cached.
        if (cachePath is not null && result.StopReason != StopReason.Cancelled)
            TeacherFiles.Save(teacher, description, cachePath);
        return new PreparedTeacher(teacher, TeacherOrigin.TrainedFromScratch, accuracy, result.History, spec.Teacher.SavePath ?? cachePath);
    }
}
