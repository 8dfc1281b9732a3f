using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;

namespace ScaleKD.Cli;

/// <summary>Everything <c>scalekd distill</c> (and each run of <c>compare</c>) is given: the distillation itself as a
/// <see cref="DistillationSpec"/>, and what only the tool decides (the data and its subsets, the outputs).</summary>
public sealed record DistillSettings
{
    /// <summary>The distillation: teacher, student, method, recipe, augmentation, checkpoints.</summary>
    public DistillationSpec Spec { get; init; } = DistillationSpec.Default;
    /// <summary>Data: Fashion-MNIST IDX folder (default), image folder, or TSV.</summary>
    public string? Data { get; init; }
    /// <summary>Class-balanced training subset for the student (the teacher sees all training data).</summary>
    public int? TrainLimit { get; init; }
    /// <summary>Class-balanced subset of training images the teacher learns from (its probe, or its from-scratch
    /// training); null: all of them.</summary>
    public int? TeacherTrainLimit { get; init; }
    /// <summary>At most this many held-out images are checked after every epoch (the final accuracy uses all of them).</summary>
    public int? ValidationLimit { get; init; }
    /// <summary>Check the validation images after every epoch (curves in the report, and the best epoch is kept);
    /// without it the last epoch is kept.</summary>
    public bool ValidateEachEpoch { get; init; } = true;
    /// <summary>Score the prepared teacher on the test split as the student is (in the report beside the student's
    /// accuracy); it costs one teacher pass over the split, so compare asks it of its first run only.</summary>
    public bool ScoreTeacher { get; init; } = true;
    /// <summary>cpu or cuda.</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>Also train the student without distillation, for comparison in the report.</summary>
    public bool Baseline { get; init; }
    /// <summary>Where the zip, report and plots go.</summary>
    public string Output { get; init; } = "scalekd-output";

    /// <summary>The default with no arguments: <see cref="DistillationSpec.Quick"/> on Fashion-MNIST, in the data-limited
    /// regime (the teacher's probe sees 2,000 labelled images, the student 500), 1,000 validation images, and a no-KD
    /// baseline to compare with (README, "Results", has its time and outcome).</summary>
    public static DistillSettings Quick { get; } = new()
    {
        Spec = DistillationSpec.Quick with { TeacherCheck = new TeacherCheckOptions { Policy = WeakTeacherPolicy.Stop } },
        TrainLimit = 500,
        TeacherTrainLimit = 2000,
        ValidationLimit = 1000,
        Baseline = true,
    };

    /// <summary>What the tool uses without a preset: the spec's defaults, with the tool's stricter teacher check (it
    /// stops before distilling from a weak teacher unless <c>--force</c>).</summary>
    public static DistillSettings Plain { get; } = new()
    {
        Spec = DistillationSpec.Default with { TeacherCheck = new TeacherCheckOptions { Policy = WeakTeacherPolicy.Stop } },
    };

    /// <summary>The <c>--augment</c> names: official (random-resized crop, flip, RandAugment m9, erasing), light (crop
    /// from 35 % of the area, and flip: cheap on a CPU), or none.</summary>
    public static AugmentationOptions? Augmentation(string name, int imageSize) => name switch
    {
        "none" => AugmentationOptions.Disabled(imageSize),
        "light" => AugmentationOptions.Light(imageSize),
        _ => null,
    };

    /// <summary>The <c>--augment</c> name of the spec's augmentation, for the report.</summary>
    public string AugmentationName => Spec.Augmentation switch
    {
        null => "official",
        var a when a == AugmentationOptions.Light(Spec.ImageSize) => "light",
        var a when a == AugmentationOptions.Disabled(Spec.ImageSize) => "none",
        _ => "custom",
    };
}
