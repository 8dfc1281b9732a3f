using ScaleKD.Torch.Distillation;

namespace ScaleKD.Cli;

/// <summary>One column of a <c>compare</c> table: a method, and for ScaleKD which of its parts are on.</summary>
/// <param name="Label">The column's heading, also the run folder's name.</param>
/// <param name="Method">The method the runs use.</param>
/// <param name="ScaleKD">ScaleKD's switches for this column; null: the method's defaults.</param>
/// <param name="Key">The short name <c>--ablation</c> selects the column by; null for a method's column.</param>
public sealed record CompareArm(string Label, DistillationMethod Method, ScaleKDOptions? ScaleKD = null, string? Key = null)
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
        new("student alone", DistillationMethod.None, Key: "alone"),
        new("logit KD", DistillationMethod.VanillaKD, Key: "logit"),
        new("+ CAP (spatial view)", DistillationMethod.ScaleKD, new ScaleKDOptions { UseFrequencyView = false, UseTeacherParameterPerception = false }, "cap"),
        new("+ frequency view", DistillationMethod.ScaleKD, new ScaleKDOptions { UseTeacherParameterPerception = false }, "frequency"),
        new("+ TPP", DistillationMethod.ScaleKD, new ScaleKDOptions { UseTeacherParameterPerception = true }, "tpp"),
    ];

    /// <summary>The ablation's columns named by <paramref name="keys"/> (in the table's order), or all of them when none
    /// is named: a session can add the columns or seeds another one did not run.</summary>
    /// <exception cref="CliException">A key names no column.</exception>
    public static IReadOnlyList<CompareArm> AblationColumns(IReadOnlyCollection<string> keys)
    {
        var unknown = keys.Where(k => Ablation.All(a => a.Key != k)).ToList();
        if (unknown.Count > 0)
            throw new CliException($"--ablation has no column {string.Join(", ", unknown.Select(k => $"'{k}'"))}.",
                $"name some of: {string.Join(" ", Ablation.Select(a => a.Key))} (or none, for all five)");
        return keys.Count == 0 ? Ablation : Ablation.Where(a => keys.Contains(a.Key!)).ToList();
    }

    /// <summary>A folder name for the column's runs.</summary>
    public string FolderName => new(Label.Select(c => char.IsLetterOrDigit(c) ? c : '-').ToArray());
}
