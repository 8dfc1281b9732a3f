using System.Text.RegularExpressions;
using TorchSharp.Modules;

namespace ScaleKD.Torch.Training.Optimization;

/// <summary>
/// Builds the optimizer of an <see cref="OptimizerRecipe"/> over a model's named parameters, with timm's weight-decay
/// grouping (<c>param_groups_weight_decay</c>): a group without decay first, then the decayed group, empty groups
/// left out. Every optimizer returned saves and restores its exact state (<see cref="OptimizerCheckpoint"/>).
/// </summary>
public static class OptimizerFactory
{
    /// <summary>The optimizer for <paramref name="namedParameters"/> (e.g. <c>model.named_parameters()</c>); parameters
    /// that do not require gradients are left out.</summary>
    public static OptimizerHelper Create(IEnumerable<(string name, Parameter parameter)> namedParameters, OptimizerRecipe options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var groups = GroupByWeightDecay(namedParameters, options);
        var lr = options.LearningRate;
        var eps = options.ResolvedEpsilon;
        return options.Kind switch
        {
            OptimizerKind.AdamW => new AdamW(
                groups.Select(g => new AdamW.ParamGroup(g.Parameters, lr * g.LearningRateScale, options.Beta1, options.Beta2, eps, g.WeightDecay)).ToList(),
                lr, options.Beta1, options.Beta2, eps, options.WeightDecay),
            OptimizerKind.Sgd => new SGD(
                groups.Select(g => new SGD.ParamGroup(g.Parameters, lr * g.LearningRateScale, options.Momentum, 0, g.WeightDecay, options.Nesterov)).ToList(),
                lr, options.Momentum, 0, options.WeightDecay, options.Nesterov),
            OptimizerKind.Lamb => new Lamb(
                groups.Select(g => new Lamb.ParamGroup(g.Parameters, new Lamb.Options { LearningRate = lr * g.LearningRateScale, WeightDecay = g.WeightDecay })).ToList(),
                lr, options.Beta1, options.Beta2, eps, options.WeightDecay, maxGradNorm: options.LambMaxGradNorm),
            _ => throw new ArgumentOutOfRangeException(nameof(options), options.Kind, "Unknown optimizer kind."),
        };
    }

    /// <summary>
    /// timm's grouping: with weight decay 0 every parameter is in one group; otherwise the parameters spared decay (see
    /// <see cref="OptimizerRecipe.ExcludeOneDimensionalFromWeightDecay"/> and
    /// <see cref="OptimizerRecipe.NoWeightDecayNames"/>) form a first group with decay 0 and the rest a second group.
    /// </summary>
    public static IReadOnlyList<WeightDecayGroup> GroupByWeightDecay(IEnumerable<(string name, Parameter parameter)> namedParameters, OptimizerRecipe options)
    {
        ArgumentNullException.ThrowIfNull(namedParameters);
        ArgumentNullException.ThrowIfNull(options);
        var patterns = options.NoWeightDecayNames.Select(WildcardPattern).ToList();
        var spared = new List<(string, Parameter)>();
        var decayed = new List<(string, Parameter)>();
        foreach (var (name, parameter) in namedParameters)
        {
            if (!parameter.requires_grad)
                continue;
            var isSpared = options.WeightDecay == 0
                || (options.ExcludeOneDimensionalFromWeightDecay && (parameter.dim() <= 1 || name.EndsWith(".bias", StringComparison.Ordinal)))
                || patterns.Any(p => p.IsMatch(name) || p.IsMatch(LastSegment(name)));
            (isSpared ? spared : decayed).Add((name, parameter));
        }
        if (spared.Count + decayed.Count == 0)
            throw new ArgumentException("There are no parameters that require gradients to optimise.", nameof(namedParameters));

        // With head names, each decay group splits into the backbone (learning slower) and the head; without, nothing
        // changes, so recipes without them keep their groups (and their checkpoints).
        var head = options.HeadNames.ToHashSet(StringComparer.Ordinal);
        var groups = new List<WeightDecayGroup>();
        foreach (var (decay, members) in new[] { (0.0, spared), (options.WeightDecay, decayed) })
        {
            if (head.Count == 0)
            {
                groups.Add(Group(decay, members, 1.0));
                continue;
            }
            groups.Add(Group(decay, members.Where(m => !head.Contains(m.Item1)).ToList(), options.BackboneLearningRateScale));
            groups.Add(Group(decay, members.Where(m => head.Contains(m.Item1)).ToList(), 1.0));
        }
        return groups.Where(g => g.Parameters.Count > 0).ToList();
    }

    static WeightDecayGroup Group(double weightDecay, List<(string Name, Parameter Parameter)> members, double learningRateScale) =>
        new(weightDecay, members.Select(m => m.Name).ToList(), members.Select(m => m.Parameter).ToList(), learningRateScale);

    static string LastSegment(string name) => name[(name.LastIndexOf('.') + 1)..];

    // fnmatch's * and ? (timm matches no_weight_decay names with fnmatch).
    static Regex WildcardPattern(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$",
            RegexOptions.CultureInvariant);
}
