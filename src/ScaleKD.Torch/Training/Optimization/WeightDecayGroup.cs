using TorchSharp.Modules;

namespace ScaleKD.Torch.Training.Optimization;

/// <summary>One optimizer parameter group: the parameters that share a weight decay, with their names for reports.</summary>
/// <param name="WeightDecay">The group's weight decay (0 for the spared group).</param>
/// <param name="Names">The parameters' names, in the model's order.</param>
/// <param name="Parameters">The parameters, in the same order as <paramref name="Names"/>.</param>
public sealed record WeightDecayGroup(double WeightDecay, IReadOnlyList<string> Names, IReadOnlyList<Parameter> Parameters);
