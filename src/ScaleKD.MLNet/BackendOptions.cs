using Microsoft.ML.Runtime;
using ScaleKD.Torch.Native;

namespace ScaleKD.MLNet;

/// <summary>Device choice from <c>MLContext.GpuDeviceId</c> and <c>MLContext.FallbackToCpu</c>, as ML.NET's TorchSharp trainers read them.</summary>
static class BackendOptions
{
    public static TorchBackendOptions From(IHostEnvironment env) => env is IHostEnvironmentInternal { GpuDeviceId: { } gpu } settings
        ? new TorchBackendOptions { UseCuda = true, CudaDeviceIndex = gpu, FallbackToCpu = settings.FallbackToCpu }
        : new TorchBackendOptions();
}
