using ScaleKD.Torch.Models;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// Calls into a frozen teacher whose weights may be in a lower precision than the student's (bfloat16 on CUDA): inputs
/// are cast to the teacher's dtype and outputs back to the input's, so every loss is computed in the student's precision.
/// </summary>
public static class FrozenTeacher
{
    /// <summary>The dtype of the teacher's weights.</summary>
    public static ScalarType DtypeOf(VisionModel teacher) => teacher.parameters().First().dtype;

    /// <summary>The teacher's stages and logits for <paramref name="images"/>, in the images' dtype, without gradients.</summary>
    /// <remarks>The forward pass runs in a dispose scope of its own that keeps only the results: without gradients
    /// nothing else is needed afterwards, and a teacher's activations would otherwise stay allocated until the end of
    /// the training step (for Swin-L at batch 64 and 224 px, gigabytes that PyTorch frees as it goes).</remarks>
    public static StageFeatures Forward(VisionModel teacher, Tensor images)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var features = teacher.ForwardStages(AtTeacherSize(teacher, images).to(DtypeOf(teacher)));
        Tensor Keep(Tensor t) => t.to(images.dtype).MoveToOuterDisposeScope();
        return new StageFeatures(features.Stages.Select(Keep).ToList(), Keep(features.PreLogits), Keep(features.Logits));
    }

    /// <summary>
    /// The images at the teacher's own input size: a pretrained teacher keeps the resolution it learned at (224 px)
    /// while the student trains at its own (e.g. 64 px), and the projectors map between the two grids. Bilinear, as
    /// torch's <c>F.interpolate(mode="bilinear", align_corners=False)</c>.
    /// </summary>
    public static Tensor AtTeacherSize(VisionModel teacher, Tensor images)
    {
        var size = teacher.Options.ImageSize;
        return images.shape[^1] == size && images.shape[^2] == size
            ? images
            : nn.functional.interpolate(images, [size, size], mode: InterpolationMode.Bilinear, align_corners: false);
    }

    /// <summary>The teacher's later stages on <paramref name="tokens"/> (with gradients to the tokens), in the tokens' dtype.</summary>
    public static Tensor ForwardFromStage(ITeacherModel teacher, VisionModel model, Tensor tokens, int stage) =>
        teacher.ForwardFromStage(tokens.to(DtypeOf(model)), stage).to(tokens.dtype);
}
