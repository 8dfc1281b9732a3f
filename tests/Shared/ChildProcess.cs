using System.Diagnostics;
using System.Reflection;

namespace ScaleKD.Tests.Shared;

/// <summary>Runs a helper executable from tests/ in a fresh process: the way to check what happens at process start.</summary>
public static class ChildProcess
{
    public sealed record Result(int ExitCode, string StandardOutput, string StandardError);

    public static string MetadataValue(string key) =>
        typeof(ChildProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value
        ?? throw new InvalidOperationException($"Assembly metadata '{key}' is empty.");

    /// <param name="helper">The helper's project name, e.g. ScaleKD.TestHost.</param>
    public static Result Run(string helper, IReadOnlyDictionary<string, string?>? environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(MetadataValue(helper));
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
            start.Environment[name] = value;
        // A guard against a hung child, not a speed bar: a loaded 2-core CI machine runs a small distill in minutes.
        return Run(start, $"{helper} {string.Join(' ', arguments)}", TimeSpan.FromMinutes(10));
    }

    /// <summary>Runs <paramref name="start"/> (its output redirected) to the end, or kills it after <paramref name="timeout"/>.</summary>
    public static Result Run(ProcessStartInfo start, string description, TimeSpan timeout)
    {
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{description} did not finish in {timeout.TotalMinutes} minutes.");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
