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

    /// <summary>The frozen teacher.</summary>
    public VisionModel Teacher { get; }

    /// <summary>Runs the teacher's stage 4 and final norm on tokens laid out like its stage-3 output.</summary>
    /// <param name="proxyTokens">(N, H3·W3, C3) from a stage-3 projector.</param>
    /// <returns>(N, H4·W4, C4), differentiable with respect to <paramref name="proxyTokens"/>.</returns>
    public Tensor Forward(Tensor proxyTokens) => FrozenTeacher.ForwardFromStage(Teacher, proxyTokens, 3);
}
