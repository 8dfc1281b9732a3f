using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>How the frequency view removes the DC component.</summary>
public enum DcRemoval
{
    /// <summary>Subtract each channel's spatial mean: identical to zeroing the DCT's (0,0) coefficient, and cheaper.</summary>
    MeanSubtraction,
    /// <summary>DCT-II, zero the (0,0) coefficient, inverse DCT: the official code's computation.</summary>
    ExplicitDct,
}

/// <summary>
/// Dual-view Feature Mimicking (DFM, paper Sec. 3.2; docs/method.md, "Dual-view Feature Mimicking") between a projected student map and the teacher map,
/// both (N, C, H, W). The spatial view compares channel-normalised maps; the frequency view does the same after
/// removing each channel's DC component, so the non-DC (detail) knowledge is not drowned by the dominant DC term.
/// </summary>
/// <remarks>Each view is a summed squared error divided by the batch size (not a mean), times its weight α.</remarks>
/// <param name="spatialWeight">α_sp: 0.08 for Swin teachers, 0.016 for BEiT/ViT-L ones.</param>
/// <param name="frequencyWeight">α_fr: 0.06 for Swin teachers, 0.008 for BEiT/ViT-L ones.</param>
/// <param name="dcRemoval">The frequency view's computation; both give the same value.</param>
public sealed class DualViewFeatureLoss(double spatialWeight, double frequencyWeight, DcRemoval dcRemoval = DcRemoval.MeanSubtraction)
{
    /// <summary>α_sp.</summary>
    public double SpatialWeight { get; } = spatialWeight;

    /// <summary>α_fr.</summary>
    public double FrequencyWeight { get; } = frequencyWeight;

    /// <summary>α_sp · Σ (normalize(S) − normalize(T))² / N, normalised over channels at each position.</summary>
    public Tensor Spatial(Tensor student, Tensor teacher) => Weighted(student, teacher, SpatialWeight);

    /// <summary>α_fr · the spatial formula applied to both maps with their DC component removed.</summary>
    public Tensor Frequency(Tensor student, Tensor teacher) =>
        Weighted(RemoveDc(student, dcRemoval), RemoveDc(teacher, dcRemoval), FrequencyWeight);

    /// <summary>Removes each channel's DC component from (N, C, H, W) maps.</summary>
    public static Tensor RemoveDc(Tensor map, DcRemoval method)
    {
        if (method == DcRemoval.MeanSubtraction)
            return map - map.mean([-2, -1], keepdim: true);
        var spectrum = Dct2d.Forward(map);
        var mask = ones_like(spectrum);
        mask[.., .., 0, 0] = 0;
        return Dct2d.Inverse(spectrum * mask);
    }

    static Tensor Weighted(Tensor student, Tensor teacher, double weight)
    {
        if (!student.shape.SequenceEqual(teacher.shape))
            throw new ArgumentException(
                $"Student ({string.Join(", ", student.shape)}) and teacher ({string.Join(", ", teacher.shape)}) maps must have the same shape.");
        var difference = nn.functional.normalize(student, dim: 1) - nn.functional.normalize(teacher, dim: 1);
        return difference.square().sum() * (weight / student.shape[0]);
    }
}
