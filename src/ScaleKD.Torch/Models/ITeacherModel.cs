using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>
/// A model that can serve as a ScaleKD teacher: besides its stages it can run its later stages from an intermediate
/// feature, which Teacher Parameter Perception (paper Sec. 3.3) feeds with projector outputs.
/// </summary>
public interface ITeacherModel
{
    /// <summary>
    /// Runs the stages after <paramref name="stage"/> and the final norm on <paramref name="tokens"/>, shaped
    /// (N, H·W, C) like the output of stage <paramref name="stage"/> (1-based, 1–3) without class tokens, and returns
    /// the deepest stage's tokens (N, H4·W4, C4). Gradients flow through to <paramref name="tokens"/>.
    /// </summary>
    Tensor ForwardFromStage(Tensor tokens, int stage);
}
