namespace ScaleKD.Torch.Distillation;

/// <summary>Distillation methods, selectable by name so that comparisons are one option apart.</summary>
public enum DistillationMethod
{
    /// <summary>The student alone: cross-entropy only (the baseline).</summary>
    None,
    /// <summary>Logit KD (Hinton et al.): 0.5·CE + 0.5·soft-target loss at T = 1, ScaleKD's own logit part.</summary>
    VanillaKD,
    /// <summary>FitNet-style feature regression of the last stage, plus cross-entropy.</summary>
    FeatureKD,
    /// <summary>DIST (Huang et al., 2022): relation-based logit distillation, plus cross-entropy.</summary>
    Dist,
    /// <summary>ScaleKD: CAP, dual-view feature mimicking and teacher parameter perception, plus logit KD.</summary>
    ScaleKD,
}
