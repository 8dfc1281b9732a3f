using ScaleKD.Torch.Distillation;

namespace ScaleKD.Cli;

/// <summary>One column of a <c>compare</c> table: a method, and for ScaleKD which of its parts are on.</summary>
/// <param name="Label">The column's heading, also the run folder's name.</param>
/// <param name="Method">The method the runs use.</param>
/// <param name="ScaleKD">ScaleKD's switches for this column; null: the method's defaults.</param>
public sealed record CompareArm(string Label, DistillationMethod Method, ScaleKDOptions? ScaleKD = null)
{
    /// <summary>A column per method, each with its defaults.</summary>
    public static IReadOnlyList<CompareArm> ForMethods(IEnumerable<DistillationMethod> methods) =>
        methods.Select(m => new CompareArm(m.ToString(), m)).ToList();

    /// <summary>ScaleKD's parts added one at a time, as in the paper's component table: the student alone, logit KD,
    /// then the cross attention projector with the spatial view, then the frequency view, then teacher parameter
    /// perception. The last column asks for TPP explicitly, so it is on for CNN teachers too (where ScaleKD's default
    /// leaves it off).</summary>
    public static IReadOnlyList<CompareArm> Ablation { get; } =
    [
        new("student alone", DistillationMethod.None),
        new("logit KD", DistillationMethod.VanillaKD),
        new("+ CAP (spatial view)", DistillationMethod.ScaleKD, new ScaleKDOptions { UseFrequencyView = false, UseTeacherParameterPerception = false }),
        new("+ frequency view", DistillationMethod.ScaleKD, new ScaleKDOptions { UseTeacherParameterPerception = false }),
        new("+ TPP", DistillationMethod.ScaleKD, new ScaleKDOptions { UseTeacherParameterPerception = true }),
    ];

    /// <summary>A folder name for the column's runs.</summary>
    public string FolderName => new(Label.Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());
}
