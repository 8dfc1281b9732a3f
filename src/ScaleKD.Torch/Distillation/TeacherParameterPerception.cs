using ScaleKD.Torch.Models;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// Teacher Parameter Perception (TPP, paper Sec. 3.3; spec §3): the proxy path that sends projected student tokens
/// through the frozen teacher's own later stages (for Swin: stage-3→4 PatchMerging, the stage-4 blocks, the final
/// norm), so the student is aligned with the teacher's parameter space as well as its features.
/// </summary>
/// <remarks>The teacher's parameters take no gradient, but this pass is deliberately not under no_grad: gradients
/// flow through the teacher's activations into the projector and the student.</remarks>
public sealed class TeacherParameterPerception
{
    readonly ITeacherModel _teacher;

    /// <summary>Freezes <paramref name="teacher"/>'s parameters and puts it in eval mode.</summary>
    /// <exception cref="ArgumentException">The model cannot run its later stages (it is not an <see cref="ITeacherModel"/>).</exception>
    public TeacherParameterPerception(VisionModel teacher)
    {
        _teacher = teacher as ITeacherModel
            ?? throw new ArgumentException($"{teacher.GetName()} ({teacher.Family}) cannot serve TPP: it cannot run its later stages from a feature. Use a ViT, Swin or ResNet teacher (or an imported ONNX CNN), or switch TPP off.", nameof(teacher));
        Freeze(teacher);
        Teacher = teacher;
    }

    /// <summary>The frozen teacher.</summary>
    public VisionModel Teacher { get; }

    /// <summary>Runs the teacher's stage 4 and final norm on tokens laid out like its stage-3 output.</summary>
    /// <param name="proxyTokens">(N, H3·W3, C3) from a stage-3 projector.</param>
    /// <returns>(N, H4·W4, C4), differentiable with respect to <paramref name="proxyTokens"/>.</returns>
    public Tensor Forward(Tensor proxyTokens) => FrozenTeacher.ForwardFromStage(_teacher, Teacher, proxyTokens, 3);

    /// <summary>Stops gradients into the teacher's parameters and switches off its dropout and stochastic depth.</summary>
    public static void Freeze(VisionModel teacher)
    {
        foreach (var parameter in teacher.parameters())
            parameter.requires_grad = false;
        teacher.eval();
    }
}
