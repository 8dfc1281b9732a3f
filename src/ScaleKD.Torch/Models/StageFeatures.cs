using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>One forward pass: the four stage feature maps, the pooled pre-logits features and the logits.</summary>
/// <param name="Stages">Four maps (N, C, H, W), shallow to deep. Token models give their patch tokens as a map
/// (class tokens excluded); the deepest stage is taken after the model's final norm where it has one.</param>
/// <param name="PreLogits">The pooled features the classifier reads, (N, D).</param>
/// <param name="Logits">Class scores, (N, classes).</param>
public sealed record StageFeatures(IReadOnlyList<Tensor> Stages, Tensor PreLogits, Tensor Logits);
