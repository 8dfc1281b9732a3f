using ScaleKD.Torch.Models;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// Teacher Parameter Perception (TPP, paper Sec. 3.3; docs/method.md, "Teacher Parameter Perception"): the proxy path
/// that sends projected student tokens through the frozen teacher's own later stages (for Swin: stage-3→4
/// PatchMerging, the stage-4 blocks, the final norm), so the student is aligned with the teacher's parameter space as
/// well as its features.
/// </summary>
/// <remarks>The teacher's parameters take no gradient, but this pass is deliberately not under no_grad: gradients
/// flow through the teacher's activations into the projector and the student.</remarks>
public sealed class TeacherParameterPerception
{
    /// <summary>Freezes <paramref name="teacher"/> (<see cref="FrozenTeacher.Freeze"/>).</summary>
    /// <exception cref="ArgumentException">The model cannot run its later stages (it is not an <see cref="ITeacherModel"/>).</exception>
    public TeacherParameterPerception(VisionModel teacher)
    {
        FrozenTeacher.CanRunFromStage(teacher);
        FrozenTeacher.Freeze(teacher);
        Teacher = teacher;
    }

    /// <summary>
    /// Whether TPP is on by default for this teacher: true where the teacher's stage 4 normalises what it is given
    /// (Swin's patch merging and ViT's blocks begin with a LayerNorm, ConvNeXt's downsample too), false for CNNs whose
    /// stage 4 convolves its input as it comes (ResNet, MobileNetV1, the ONNX ResNet-18).
    /// </summary>
    /// <remarks>Why: a projector's output is a LayerNorm-scaled token map, while a CNN's stage 4 was calibrated (by its
    /// BatchNorms) on the non-negative, unnormalised maps of its own stage 3; the proxy path then trains the student
    /// through a teacher stage run far outside what it learned. Measured on Fashion-MNIST (500 labels, the quick preset:
    /// mixer_pico student, ImageNet ResNet-18 teacher probed to 80.8 %): with TPP the student reached 43.4 % on the test
    /// images and its validation accuracy collapsed mid-run; without it, 67.8 %, against 64.7 % for the student alone.
    /// The switch stays available (<see cref="ScaleKDOptions.UseTeacherParameterPerception"/> = true), and the CNN-teacher
    /// parity test runs with it on.</remarks>
    public static bool SuitsTeacher(VisionModel teacher)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        return teacher.Family is not (ModelFamily.ResNet or ModelFamily.MobileNetV1);
    }

    /// <summary>The frozen teacher.</summary>
    public VisionModel Teacher { get; }

    /// <summary>Runs the teacher's stage 4 and final norm on tokens laid out like its stage-3 output.</summary>
    /// <param name="proxyTokens">(N, H3·W3, C3) from a stage-3 projector.</param>
    /// <returns>(N, H4·W4, C4), differentiable with respect to <paramref name="proxyTokens"/>.</returns>
    public Tensor Forward(Tensor proxyTokens) => FrozenTeacher.ForwardFromStage(Teacher, proxyTokens, 3);
}
