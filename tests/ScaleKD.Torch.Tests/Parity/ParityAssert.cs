using System.Collections.Concurrent;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Parity;

/// <summary>
/// Tolerances of the parity contract: single components within 1e-5 absolute; whole models within 1e-4 relative to
/// the output's scale, because BLAS builds accumulate in different orders. Every comparison's error is recorded, so
/// the largest per component can be reported.
/// </summary>
static class ParityAssert
{
    public const double ComponentAbsolute = 1e-5;
    public const double ModelRelative = 1e-4;

    /// <summary>Largest error seen per label during this test run (absolute or relative, as asserted).</summary>
    public static readonly ConcurrentDictionary<string, double> LargestError = new();

    /// <summary>max |expected − actual| ≤ <paramref name="tolerance"/>.</summary>
    public static double Absolute(Tensor expected, Tensor actual, string label, double tolerance = ComponentAbsolute)
    {
        CheckShapes(expected, actual, label);
        var error = (expected.to(float64) - actual.detach().cpu().to(float64)).abs().max().item<double>();
        Record(label, error);
        Assert.True(error <= tolerance, $"{label}: max abs error {error:E3} > {tolerance:E0}");
        return error;
    }

    /// <summary>max |expected − actual| / max |expected| ≤ <paramref name="tolerance"/>.</summary>
    public static double Relative(Tensor expected, Tensor actual, string label, double tolerance = ModelRelative)
    {
        CheckShapes(expected, actual, label);
        var reference = expected.to(float64);
        var scale = Math.Max(reference.abs().max().item<double>(), 1e-12);
        var error = (reference - actual.detach().cpu().to(float64)).abs().max().item<double>() / scale;
        Record(label, error);
        Assert.True(error <= tolerance, $"{label}: max error relative to scale {scale:G4} is {error:E3} > {tolerance:E0}" +
            (expected.numel() == 1 ? $" (reference {reference.item<double>():G7}, actual {actual.to(float64).item<double>():G7})" : ""));
        return error;
    }

    static void CheckShapes(Tensor expected, Tensor actual, string label) =>
        Assert.True(expected.shape.SequenceEqual(actual.shape),
            $"{label}: shape ({string.Join(", ", actual.shape)}) differs from the reference ({string.Join(", ", expected.shape)})");

    static void Record(string label, double error)
    {
        LargestError.AddOrUpdate(label, error, (_, old) => Math.Max(old, error));
        // SCALEKD_PARITY_REPORT=FILE collects every comparison, for reporting the largest error per component.
        if (Environment.GetEnvironmentVariable("SCALEKD_PARITY_REPORT") is { Length: > 0 } report)
            lock (LargestError)
                File.AppendAllText(report, $"{label}\t{error:E3}{Environment.NewLine}");
    }
}
