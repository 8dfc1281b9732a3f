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
    public static StageFeatures Forward(VisionModel teacher, Tensor images)
    {
        using var noGrad = no_grad();
        var dtype = DtypeOf(teacher);
        var features = teacher.ForwardStages(images.to(dtype));
        if (dtype == images.dtype)
            return features;
        return new StageFeatures(features.Stages.Select(s => s.to(images.dtype)).ToList(), features.PreLogits.to(images.dtype), features.Logits.to(images.dtype));
    }

    /// <summary>The teacher's later stages on <paramref name="tokens"/> (with gradients to the tokens), in the tokens' dtype.</summary>
    public static Tensor ForwardFromStage(ITeacherModel teacher, VisionModel model, Tensor tokens, int stage) =>
        teacher.ForwardFromStage(tokens.to(DtypeOf(model)), stage).to(tokens.dtype);
}
