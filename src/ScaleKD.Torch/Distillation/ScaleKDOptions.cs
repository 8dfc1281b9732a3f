namespace ScaleKD.Torch.Distillation;

/// <summary>
/// Settings of ScaleKD's feature terms (<see cref="ScaleKDObjective"/>): the projectors, the two views and TPP. Null
/// means "the official default for this teacher/student pair" (docs/method.md, "Per-pair defaults");
/// <see cref="ScaleKDObjective.Settings"/> shows what was chosen. The logit terms every method shares are in
/// <see cref="ObjectiveOptions"/>.
/// </summary>
public sealed record ScaleKDOptions
{
    /// <summary>α_sp of both the proxy (stage-3) and direct (stage-4) spatial losses. Default: 0.08 for Swin teachers,
    /// 0.016 for ViT teachers (the BEiT/EVA-L setting).</summary>
    public double? SpatialWeight { get; init; }

    /// <summary>α_fr of the frequency losses. Default: 0.06 for Swin teachers, 0.008 for ViT teachers.</summary>
    public double? FrequencyWeight { get; init; }

    /// <summary>Attention heads of the stage-3 projectors. Default: C3/48 for CNN students (16 for Swin-L), else 8,
    /// falling back to the largest divisor of the teacher's channels not above 8.</summary>
    public int? Stage3Heads { get; init; }

    /// <summary>Attention heads of the stage-4 projectors. Default: C4/64 for CNN students (24 for Swin-L), else 8, with
    /// the same fallback.</summary>
    public int? Stage4Heads { get; init; }

    /// <summary>Softmax scale of the projectors. Default: 5 for BatchNorm-stem students, 1 for ConvNeXt and Swin.</summary>
    public double? SoftmaxScale { get; init; }

    /// <summary>The projectors' stem norm. Default: LayerNorm for ConvNeXt and Swin students, else BatchNorm.</summary>
    public ProjectorStem? Stem { get; init; }

    /// <summary>Ablation switch: false replaces every CAP by a <see cref="PoolingProjector"/>.</summary>
    public bool UseCrossAttentionProjector { get; init; } = true;

    /// <summary>Ablation switch: false keeps only the spatial view (and one projector per stage).</summary>
    public bool UseFrequencyView { get; init; } = true;

    /// <summary>Teacher Parameter Perception, the stage-3 proxy path through the teacher's stage 4; false drops it and the
    /// stage-4 projectors learn their own queries. Default (null): on for teachers whose stage 4 normalises its input
    /// (Swin, ViT, ConvNeXt), off for CNN teachers whose stage 4 convolves its input as it comes (ResNet, MobileNetV1, the
    /// built-in ONNX ResNet-18; see <see cref="TeacherParameterPerception.SuitsTeacher"/>).</summary>
    public bool? UseTeacherParameterPerception { get; init; }

    /// <summary>How the frequency view removes the DC component; both ways give the same value.</summary>
    public DcRemoval DcRemoval { get; init; } = DcRemoval.MeanSubtraction;

    /// <summary>Both views' proxies go through the teacher's stage 4 in one pass, stacked on the batch axis. The same
    /// values either way; false (one pass per view) exists so that the benchmark can measure what the fusion saves.</summary>
    internal bool FuseProxyViews { get; init; } = true;
}
