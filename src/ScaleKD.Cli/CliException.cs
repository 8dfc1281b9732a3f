namespace ScaleKD.Cli;

/// <summary>A user-facing failure: one readable line and a hint, no stack trace (unless --verbose).</summary>
public sealed class CliException(string message, string hint, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>What to do about it.</summary>
    public string Hint { get; } = hint;

    /// <summary>A failure after the trained model was saved: the hint says where it is, so nobody retrains to get it.</summary>
    public static CliException AfterSaving(string message, string savedModel, Exception inner) =>
        new(message, $"the trained model is saved in {savedModel}; score it with: scalekd evaluate --model {savedModel} --data FOLDER", inner);

    /// <summary>The exception a user can act on: a <see cref="CliException"/> anywhere in the chain (thrown while ML.NET
    /// read a data view, which wraps it), else the innermost cause under ML.NET's and reflection's wrappers.</summary>
    public static Exception Cause(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
            if (inner is CliException)
                return inner;
        // ML.NET wraps loader and cursor failures ("Splitter/consolidator worker encountered exception while consuming
        // source data"); the cause is what helps.
        while (e.InnerException is not null
               && (e is System.Reflection.TargetInvocationException or TypeInitializationException or AggregateException
                   || e.Message.Contains("encountered exception", StringComparison.Ordinal)))
            e = e.InnerException;
        return e;
    }
}
