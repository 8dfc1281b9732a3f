using TorchSharp.Modules;

namespace ScaleKD.Torch.Training.Optimization;

/// <summary>One optimizer parameter group: the parameters that share a weight decay and a learning rate, with their
/// names for reports.</summary>
/// <param name="WeightDecay">The group's weight decay (0 for the spared group).</param>
/// <param name="Names">The parameters' names, in the model's order.</param>
/// <param name="Parameters">The parameters, in the same order as <paramref name="Names"/>.</param>
/// <param name="LearningRateScale">The group's learning rate as a fraction of the recipe's (below 1 for a pretrained
/// backbone, <see cref="OptimizerRecipe.BackboneLearningRateScale"/>).</param>
public sealed record WeightDecayGroup(double WeightDecay, IReadOnlyList<string> Names, IReadOnlyList<Parameter> Parameters, double LearningRateScale = 1.0);
