namespace ScaleKD.Cli;

/// <summary>A user-facing failure: one readable line and a hint, no stack trace (unless --verbose).</summary>
public sealed class CliException(string message, string hint) : Exception(message)
{
    /// <summary>What to do about it.</summary>
    public string Hint { get; } = hint;
}
