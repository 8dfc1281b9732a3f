using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using ScaleKD.Torch.Training;

namespace ScaleKD.Torch.Teachers;

/// <summary>
/// Where teachers trained from scratch are kept between runs: one saved teacher (<see cref="TeacherFiles"/>) per
/// teacher architecture, image size, training settings, seed and data. Any setting that changes the trained teacher
/// changes the file name, so a cached teacher is only ever reused by a run that would have trained the same one.
/// </summary>
public static class TeacherCache
{
    /// <summary>The cache file for the teacher of <paramref name="spec"/> trained on the data named
    /// <paramref name="dataKey"/> (<see cref="TeacherData.CacheKey"/>), or null when caching is off (no
    /// <see cref="TeacherSpec.CacheDirectory"/>, or unnamed data).</summary>
    public static string? PathFor(DistillationSpec spec, string? dataKey)
    {
        if (spec.Teacher.CacheDirectory is not { } directory || dataKey is null)
            return null;
        var run = spec.ForTeacherTraining();
        var settings = JsonSerializer.Serialize(new
        {
            spec.Teacher.Model,
            spec.ImageSize,
            run.Epochs,
            run.Seed,
            run.BatchSize,
            run.Optimizer,
            run.GradientClipNorm,
            run.Ema,
            run.Augmentation,
            run.Objective.LabelSmoothing,
            run.EarlyStoppingPatience,
            run.Monitor,
            run.RestoreBestWeights,
            Data = dataKey,
        });
        return Path.Combine(directory, $"{spec.Teacher.Model}-{spec.ImageSize}px-{run.Epochs}ep-seed{run.Seed}-{Hash(settings)}.safetensors");
    }

    /// <summary>The cache file for the probed head of a built-in pretrained teacher (<see cref="TeacherFiles.SaveHead"/>),
    /// named by everything the probe depends on: the model, both image sizes, the input normalisation, the probe's
    /// settings and the data; null when caching is off.</summary>
    public static string? HeadPathFor(DistillationSpec spec, string? dataKey)
    {
        if (spec.Teacher.CacheDirectory is not { } directory || dataKey is null)
            return null;
        var augmentation = spec.AugmentationFor(spec.ImageSize);
        var teacherSize = spec.Teacher.ImageSizeFor(spec.ImageSize);
        var settings = JsonSerializer.Serialize(new
        {
            spec.Teacher.Model,
            TeacherImageSize = teacherSize,
            spec.ImageSize,
            augmentation.Mean,
            augmentation.Std,
            spec.Teacher.LinearProbe,
            Data = dataKey,
        });
        return Path.Combine(directory, $"{spec.Teacher.Model}-{teacherSize}px-probe-{Hash(settings)}.head.safetensors");
    }

    /// <summary>The cache file for a pretrained teacher fine-tuned whole (<see cref="TeacherSpec.FineTuneEpochs"/>):
    /// named by everything its probe depends on (<see cref="HeadPathFor"/>) and the fine-tuning's own settings, run
    /// seed and augmentation; null when caching is off.</summary>
    public static string? FineTunedPathFor(DistillationSpec spec, string? dataKey)
    {
        if (HeadPathFor(spec, dataKey) is not { } head)
            return null;
        var settings = JsonSerializer.Serialize(new
        {
            Probe = Path.GetFileName(head),
            spec.Teacher.FineTuneEpochs,
            spec.Teacher.FineTuneLearningRate,
            spec.Teacher.FineTuneBackboneScale,
            Seed = spec.Teacher.Seed ?? spec.Seed,
            spec.BatchSize,
            Augmentation = spec.AugmentationFor(spec.ImageSize),
        });
        return Path.Combine(Path.GetDirectoryName(head)!,
            $"{spec.Teacher.Model}-{spec.Teacher.ImageSizeFor(spec.ImageSize)}px-finetuned{spec.Teacher.FineTuneEpochs}ep-{Hash(settings)}.safetensors");
    }

    static string Hash(string settings) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(settings)))[..12].ToLowerInvariant();
}
