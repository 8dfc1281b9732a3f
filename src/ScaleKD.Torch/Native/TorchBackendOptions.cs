namespace ScaleKD.Torch.Native;

/// <summary>Which libtorch to load and which device to compute on.</summary>
public sealed record TorchBackendOptions
{
    /// <summary>Compute on a CUDA GPU instead of the CPU.</summary>
    public bool UseCuda { get; init; }

    /// <summary>The CUDA device ordinal, as <c>MLContext.GpuDeviceId</c>. Ignored on CPU.</summary>
    public int CudaDeviceIndex { get; init; }

    /// <summary>When CUDA is asked for but cannot be used, continue on the CPU (and say so) instead of failing.</summary>
    public bool FallbackToCpu { get; init; }

    /// <summary>
    /// A folder holding an installed libtorch, for example PyTorch's <c>site-packages/torch/lib</c>, loaded before
    /// TorchSharp initialises. Null means <see cref="TorchBackend.LibTorchDirectoryVariable"/>, and when that is unset
    /// too, the libtorch package the application was built with. Needs an application built with
    /// <c>-p:ScaleKDTorchBackend=external</c>.
    /// </summary>
    public string? LibTorchDirectory { get; init; }
}
