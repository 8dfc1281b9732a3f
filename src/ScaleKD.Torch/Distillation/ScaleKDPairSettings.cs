namespace ScaleKD.Torch.Distillation;

/// <summary>The settings <see cref="ScaleKDObjective"/> resolved for its teacher/student pair: the options where they
/// were set, the official per-pair defaults (docs/method.md, "Per-pair defaults") elsewhere.</summary>
public sealed record ScaleKDPairSettings(
    double SpatialWeight, double FrequencyWeight, double KdWeight, double Temperature, double LabelSmoothing,
    int Stage3Heads, int Stage4Heads, double SoftmaxScale, ProjectorStem Stem,
    bool UseCrossAttentionProjector, bool UseFrequencyView, bool UseTeacherParameterPerception, DcRemoval DcRemoval);
