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

    /// <summary>The teacher's stages after <paramref name="stage"/> on <paramref name="tokens"/>
    /// (<see cref="ITeacherModel.ForwardFromStage"/>), with gradients to the tokens, in the tokens' dtype.</summary>
    /// <exception cref="ArgumentException">The teacher cannot run its later stages from a feature.</exception>
    public static Tensor ForwardFromStage(VisionModel teacher, Tensor tokens, int stage) =>
        CanRunFromStage(teacher).ForwardFromStage(tokens.to(DtypeOf(teacher)), stage).to(tokens.dtype);

    /// <summary>The teacher as an <see cref="ITeacherModel"/>, or a message that says what can serve instead.</summary>
    /// <exception cref="ArgumentException">It is not one (MobileNet, ConvNeXt and Mixer models cannot run from a feature).</exception>
    public static ITeacherModel CanRunFromStage(VisionModel teacher) => teacher as ITeacherModel
        ?? throw new ArgumentException(
            $"{teacher.GetName()} ({teacher.Family}) cannot serve TPP: it cannot run its later stages from a feature. Use a ViT, Swin or ResNet teacher (or an imported ONNX CNN), or switch TPP off.",
            nameof(teacher));
}
