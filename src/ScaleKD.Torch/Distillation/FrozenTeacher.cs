using ScaleKD.Torch.Models;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// A teacher as every objective uses it: frozen, and called with inputs cast to the dtype of its weights (bfloat16 on
/// CUDA) and outputs cast back to the input's, so every loss is computed in the student's precision.
/// </summary>
public static class FrozenTeacher
{
    /// <summary>Stops gradients into <paramref name="teacher"/>'s parameters and switches off its dropout and
    /// stochastic depth (eval mode), as every objective does with its teacher.</summary>
    public static void Freeze(VisionModel teacher)
    {
        foreach (var parameter in teacher.parameters())
            parameter.requires_grad = false;
        teacher.eval();
    }

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

    /// <summary>The teacher's stages after <paramref name="stage"/> on <paramref name="tokens"/>
    /// (<see cref="ITeacherModel.ForwardFromStage"/>), with gradients to the tokens, in the tokens' dtype.</summary>
    /// <exception cref="ArgumentException">The teacher cannot run its later stages from a feature.</exception>
    public static Tensor ForwardFromStage(VisionModel teacher, Tensor tokens, int stage) =>
        CanRunFromStage(teacher).ForwardFromStage(tokens.to(DtypeOf(teacher)), stage).to(tokens.dtype);

    /// <summary>The teacher as an <see cref="ITeacherModel"/>, or a message that says what can serve instead.</summary>
    /// <exception cref="ArgumentException">It is not one (CNN and Mixer models cannot run from a feature).</exception>
    public static ITeacherModel CanRunFromStage(VisionModel teacher) => teacher as ITeacherModel
        ?? throw new ArgumentException(
            $"{teacher.GetName()} ({teacher.Family}) cannot serve TPP: it cannot run its later stages from a feature. Use a ViT or Swin teacher, or switch TPP off.",
            nameof(teacher));
}
