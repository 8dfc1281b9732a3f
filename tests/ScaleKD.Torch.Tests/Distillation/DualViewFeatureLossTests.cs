using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Native;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Distillation;

[Trait("Category", "Distillation")]
public class DualViewFeatureLossTests
{
    [Theory]
    [InlineData(7, 7)]
    [InlineData(14, 14)]
    [InlineData(5, 3)]
    public void MeanSubtractionEqualsZeroingTheDctDcCoefficient(int height, int width)
    {
        TorchBackend.Initialize();
        using var scope = NewDisposeScope();
        manual_seed(5);
        var maps = randn(2, 6, height, width, dtype: float64) * 3 + 1;
        var fast = DualViewFeatureLoss.RemoveDc(maps, DcRemoval.MeanSubtraction);
        var explicitDct = DualViewFeatureLoss.RemoveDc(maps, DcRemoval.ExplicitDct);
        Assert.True(fast.allclose(explicitDct, rtol: 0, atol: 1e-10), $"max difference {(fast - explicitDct).abs().max().item<double>():E2}");
        Assert.True(Dct2d.Inverse(Dct2d.Forward(maps)).allclose(maps, rtol: 0, atol: 1e-10));
    }

    [Fact]
    public void IdenticalMapsHaveZeroLossAndTheLossIsASumOverTheBatchNotAMean()
    {
        TorchBackend.Initialize();
        using var scope = NewDisposeScope();
        manual_seed(6);
        var loss = new DualViewFeatureLoss(1.0, 1.0);
        var s = randn(4, 8, 3, 3);
        var t = randn(4, 8, 3, 3);
        Assert.Equal(0.0, loss.Spatial(t, t).item<float>(), 6);
        Assert.Equal(0.0, loss.Frequency(t, t).item<float>(), 6);
        // Doubling the batch with a copy keeps the value: summed error / N.
        var once = loss.Spatial(s, t).item<float>();
        var twice = loss.Spatial(cat([s, s]), cat([t, t])).item<float>();
        Assert.Equal(once, twice, 4);
        // Each position's channel vector is unit-normalised: the summed error is at most 4 per position.
        Assert.InRange(once, 0f, 4f * 9);
    }
}
