using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Native;

/// <summary>
/// Checks, once per process, that libtorch's CPU convolutions compute what they should, and turns oneDNN off for
/// them when they do not.
/// </summary>
/// <remarks>
/// Why: on an AMD Zen 5 server (EPYC, CPU family 0x1A, AVX-512) the oneDNN 3.x in libtorch 2.10 picks
/// <c>jit:avx512_core</c> convolution kernels that return wrong values for small grids whose channel count is not a
/// multiple of 16: a 3×3 convolution of 24 channels on a 2×2 grid was off by 20–40 % of its scale, sometimes NaN,
/// and the backward pass of an 8-channel 8×8 one by 25 %. These are exactly the shapes of the pico models and of any
/// CNN's last stage at small image sizes, so a student silently trains on garbage (the loss turns NaN, parity fails
/// by 0.2). ATen's own convolution (im2col and BLAS) is right on the same machine. The probe compares float32
/// against float64, which never takes oneDNN, on shapes that trip the fault; a correct kernel is within ~1e-6 of the
/// scale, the fault is 1e-1 or NaN, so the 1e-3 bar decides without touching either.
/// Set <see cref="Variable"/> to <c>on</c> or <c>off</c> to skip the probe and force the choice.
/// </remarks>
static class CpuConvolutionCheck
{
    /// <summary>Environment variable: <c>auto</c> (default), <c>on</c> (keep oneDNN) or <c>off</c> (ATen's convolutions).</summary>
    public const string Variable = "SCALEKD_ONEDNN";

    const double Tolerance = 1e-3;

    // (input channels, output channels, grid, kernel, stride): the faulty shapes seen, and ordinary ones. A scan of 3×3
    // convolutions on that Zen 5 found the fault wherever a channel count is not a multiple of the kernels' vector
    // width: 16 with the native avx512_core kernels, 8 when oneDNN is held to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2), where the
    // first five probes pass but 12 and 3→6 channels are off by 30–50 % (forward) and 50–75 % (input gradient).
    static readonly (int In, int Out, int Grid, int Kernel, int Stride)[] Probes =
    [
        (24, 24, 2, 3, 1), (8, 8, 8, 3, 1), (16, 24, 4, 3, 2), (24, 40, 3, 3, 1), (3, 8, 16, 3, 2),
        (12, 12, 8, 3, 1), (12, 12, 4, 3, 2), (3, 6, 8, 3, 1),
    ];

    /// <summary>Runs the check and returns a line for <see cref="TorchBackendInfo"/>.</summary>
    public static string Apply()
    {
        var choice = (Environment.GetEnvironmentVariable(Variable) ?? "auto").Trim().ToLowerInvariant();
        switch (choice)
        {
            case "on" or "1" or "true":
                return $"oneDNN convolutions ({Variable}=on)";
            case "off" or "0" or "false":
                UseAtenConvolutions();
                return $"ATen convolutions, oneDNN off ({Variable}=off)";
            case "auto" or "":
                break;
            default:
                throw new InvalidOperationException($"{Variable}='{choice}' is not one of auto, on, off.");
        }

        TrySetContextSwitch(NnpackSetter, false);
        var error = LargestProbeError();
        if (error <= Tolerance)
            return "oneDNN convolutions (checked)";
        UseAtenConvolutions();
        var fallback = LargestProbeError();
        if (!(fallback <= Tolerance))
            throw new InvalidOperationException(
                $"libtorch's CPU convolutions give wrong results on this machine (relative error {error:G3} with oneDNN, " +
                $"{fallback:G3} without it). Results would be meaningless; report the CPU model (lscpu) with this message.");
        return $"ATen convolutions: oneDNN's gave wrong results on this CPU (relative error {error:G2}), so it is off";
    }

    /// <summary>The largest relative error of the probes' outputs and input gradients, float32 against float64; NaN if any is NaN.</summary>
    internal static double LargestProbeError()
    {
        using var scope = NewDisposeScope();
        using var noGradGuard = enable_grad();
        var generator = new Generator(20261128);
        var largest = 0.0;
        foreach (var (cin, cout, grid, kernel, stride) in Probes)
        {
            var x = randn([4, cin, grid, grid], generator: generator);
            var w = randn([cout, cin, kernel, kernel], generator: generator);
            var (y32, g32) = ConvolveWithGradient(x, w, stride);
            var (y64, g64) = ConvolveWithGradient(x.to(float64), w.to(float64), stride);
            largest = Max(largest, RelativeError(y32, y64));
            largest = Max(largest, RelativeError(g32, g64));
        }
        return largest;
    }

    static (Tensor Output, Tensor InputGradient) ConvolveWithGradient(Tensor x, Tensor w, int stride)
    {
        var input = x.detach().clone().requires_grad_(true);
        var output = nn.functional.conv2d(input, w, strides: [stride, stride], padding: [w.shape[2] / 2, w.shape[3] / 2]);
        // A fixed, uneven output weighting, so the gradient differs per position.
        var weighting = arange(output.numel(), dtype: output.dtype).reshape(output.shape).remainder(7) - 3;
        (output * weighting).sum().backward();
        return (output.detach(), input.grad!);
    }

    static double RelativeError(Tensor actual, Tensor reference)
    {
        var expected = reference.to(float64);
        var scale = Math.Max(expected.abs().max().item<double>(), 1e-12);
        return (actual.to(float64) - expected).abs().max().item<double>() / scale;
    }

    // NaN must win, so that a probe that produced NaN fails.
    static double Max(double a, double b) => double.IsNaN(a) || double.IsNaN(b) ? double.NaN : Math.Max(a, b);

    /// <summary>Sends CPU convolutions to ATen's own im2col-and-BLAS path (<c>torch.backends.mkldnn.enabled = False</c>
    /// and NNPACK off).</summary>
    static void UseAtenConvolutions()
    {
        if (!TrySetContextSwitch(MkldnnSetter, false))
            throw new InvalidOperationException(
                $"This libtorch does not export {MkldnnSetter}, so its CPU convolutions cannot be switched from oneDNN to ATen's own.");
        TrySetContextSwitch(NnpackSetter, false);
    }

    const string MkldnnSetter = "_ZN2at7Context20setUserEnabledMkldnnEb";
    const string NnpackSetter = "_ZN2at7Context20setUserEnabledNNPACKEb";

    /// <summary>
    /// Calls one of <c>at::globalContext()</c>'s boolean setters, such as <c>setUserEnabledMkldnn</c> (behind
    /// <c>torch.backends.mkldnn.enabled</c>). TorchSharp 0.107 exposes none of them, so they are called by their exported
    /// C++ names in libtorch_cpu.so; a member function takes <c>this</c> as its first argument.
    /// </summary>
    /// <remarks>NNPACK is switched off before the probe in every case: libtorch tries it only where oneDNN declines a
    /// float32 convolution, and on CPUs it does not support (this Zen 5 among them) it prints a warning on every such
    /// call. Without it the choice is oneDNN or ATen's own path, and the probe checks whichever is in use.</remarks>
    /// <returns>False when this libtorch does not export the setter (a build that hides its C++ symbols).</returns>
    static unsafe bool TrySetContextSwitch(string setter, bool value)
    {
        var library = NativeLibrary.Load("libtorch_cpu.so", typeof(torch).Assembly, null);
        if (!NativeLibrary.TryGetExport(library, "_ZN2at13globalContextEv", out var globalContext) ||
            !NativeLibrary.TryGetExport(library, setter, out var set))
            return false;
        var context = ((delegate* unmanaged<IntPtr>)globalContext)();
        ((delegate* unmanaged<IntPtr, byte, void>)set)(context, value ? (byte)1 : (byte)0);
        return true;
    }
}
