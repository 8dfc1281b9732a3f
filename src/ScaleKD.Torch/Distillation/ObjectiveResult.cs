using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>What a <see cref="DistillationObjective"/> computes for one batch.</summary>
/// <param name="Total">The scalar to minimise: the sum of <paramref name="Terms"/>.</param>
/// <param name="Terms">Each weighted term by name (e.g. <c>ce</c>, <c>kd</c>, <c>s4_spatial</c>), for logging.</param>
/// <param name="StudentLogits">The student's logits, for accuracy without a second forward.</param>
public sealed record ObjectiveResult(Tensor Total, IReadOnlyDictionary<string, Tensor> Terms, Tensor StudentLogits);
