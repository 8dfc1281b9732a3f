using TorchSharp;

namespace ScaleKD.Torch.Native;

/// <summary>The outcome of <see cref="TorchBackend.Initialize"/>: where libtorch came from and which device to use.</summary>
/// <param name="Device">The device tensors and modules should be placed on.</param>
/// <param name="LibTorchSource">The libtorch that was loaded: a folder, or the package the app was built with.</param>
/// <param name="FellBackToCpu">True when CUDA was asked for, was unavailable, and fallback was allowed.</param>
/// <param name="Description">One human-readable line, including why a fallback happened.</param>
public sealed record TorchBackendInfo(torch.Device Device, string LibTorchSource, bool FellBackToCpu, string Description)
{
    /// <summary>Which CPU convolutions are in use and why: oneDNN's, or ATen's where oneDNN's failed the start-up
    /// check on this CPU (see <c>SCALEKD_ONEDNN</c> in README).</summary>
    public string CpuConvolutions { get; init; } = "";
}
