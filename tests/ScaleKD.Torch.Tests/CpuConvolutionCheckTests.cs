using ScaleKD.Torch.Native;

namespace ScaleKD.Torch.Tests;

/// <summary>The start-up convolution check: whatever this CPU's kernels do, the backend ends with convolutions that
/// pass the probe, and says which it uses.</summary>
public class CpuConvolutionCheckTests
{
    [Fact]
    [Trait("Category", "Parity")]
    public void AfterInitialisationTheCpuConvolutionsPassTheProbe()
    {
        var backend = TorchBackend.Initialize();
        Assert.Contains("convolutions", backend.CpuConvolutions);
        // 1e-3 is the check's own bar; a correct float32 kernel on these shapes is near 1e-6.
        Assert.True(CpuConvolutionCheck.LargestProbeError() <= 1e-3, backend.CpuConvolutions);
    }
}
