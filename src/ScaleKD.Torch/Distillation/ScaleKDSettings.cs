namespace ScaleKD.Torch.Distillation;

/// <summary>The settings <see cref="ScaleKDLoss"/> resolved for its teacher/student pair (options or official defaults).</summary>
public sealed record ScaleKDSettings(
    double SpatialWeight, double FrequencyWeight, double KdWeight, double Temperature, double LabelSmoothing,
    int Stage3Heads, int Stage4Heads, double SoftmaxScale, ProjectorStem Stem,
    bool UseCrossAttentionProjector, bool UseFrequencyView, bool UseTeacherParameterPerception, DcRemoval DcRemoval);
