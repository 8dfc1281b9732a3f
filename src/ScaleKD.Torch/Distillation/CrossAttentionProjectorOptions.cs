namespace ScaleKD.Torch.Distillation;

/// <summary>Normalisation in the projector's student stem (docs/method.md, "Cross Attention Projector", step 1).</summary>
public enum ProjectorStem
{
    /// <summary>BatchNorm2d: CNN, MobileNet, ViT and Mixer students.</summary>
    BatchNorm,
    /// <summary>LayerNorm over channels: students with LayerNorm stages (ConvNeXt, Swin).</summary>
    LayerNorm,
}

/// <summary>Shapes and settings of one <see cref="CrossAttentionProjector"/>.</summary>
/// <param name="StudentChannels">Cs of the student map.</param>
/// <param name="StudentHeight">Hs; the positional embedding has the student's grid.</param>
/// <param name="StudentWidth">Ws.</param>
/// <param name="TeacherChannels">Ct of the teacher tokens to imitate.</param>
/// <param name="QueryHeight">Hq: the query grid sets the output token count.</param>
/// <param name="QueryWidth">Wq.</param>
/// <param name="Heads">Attention heads; must divide Ct.</param>
/// <param name="SoftmaxScale">Extra factor on the attention logits: 5 for CNN-like students, 1 for ConvNeXt/Swin.</param>
/// <param name="Stem">The stem's normalisation.</param>
/// <param name="SelfLearnedQueries">True: an Embedding of Hq·Wq queries; false: queries are passed in (TPP hand-off).</param>
public sealed record CrossAttentionProjectorOptions(
    int StudentChannels, int StudentHeight, int StudentWidth,
    int TeacherChannels, int QueryHeight, int QueryWidth,
    int Heads, double SoftmaxScale, ProjectorStem Stem, bool SelfLearnedQueries)
{
    /// <summary>Number of output tokens, Hq·Wq.</summary>
    public int QueryCount => QueryHeight * QueryWidth;
}
