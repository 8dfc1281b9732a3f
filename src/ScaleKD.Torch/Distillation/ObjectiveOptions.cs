using ScaleKD.Torch.Models;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// Settings of a <see cref="DistillationObjective"/>: the classification and logit terms that every method shares
/// (vanilla KD and DIST use the same weight and temperature as ScaleKD's logit term), and ScaleKD's own feature terms.
/// </summary>
public sealed record ObjectiveOptions
{
    /// <summary>Weight w of the logit KD term; the cross-entropy weight is 1 − w (ScaleKD, vanilla KD). Default 0.5.</summary>
    public double KdWeight { get; init; } = 0.5;

    /// <summary>KD temperature of the logit terms (ScaleKD, vanilla KD, DIST). Default 1.</summary>
    public double Temperature { get; init; } = 1.0;

    /// <summary>Label smoothing of the student's cross-entropy, for every method. Null: <see cref="DefaultLabelSmoothing"/>.</summary>
    public double? LabelSmoothing { get; init; }

    /// <summary>ScaleKD's feature terms (projectors, views, TPP); only <see cref="DistillationMethod.ScaleKD"/> reads them.</summary>
    public ScaleKDOptions ScaleKD { get; init; } = new();

    /// <summary>Label smoothing of the official recipes: 0.1 for MobileNet, ViT, Swin and ConvNeXt students; 0 for
    /// ResNet (whose advanced recipe uses BCE instead) and Mixer (plain CE).</summary>
    public static double DefaultLabelSmoothing(ModelFamily student) =>
        student is ModelFamily.ResNet or ModelFamily.Mixer ? 0.0 : 0.1;

    /// <summary>The label smoothing in effect for a student family.</summary>
    public double LabelSmoothingFor(ModelFamily student) => LabelSmoothing ?? DefaultLabelSmoothing(student);
}
