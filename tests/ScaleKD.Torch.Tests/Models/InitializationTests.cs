using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Models;

/// <summary>Models built for training from scratch start from timm's random initialisation, not from degenerate
/// weights (TorchSharp 0.107's trunc_normal_ fills constants; ours is used instead).</summary>
[Trait("Category", "Models")]
public class InitializationTests
{
    [Fact]
    public void TruncatedNormalHasTheRequestedSpreadAndBounds()
    {
        TorchBackend.Initialize();
        using var scope = NewDisposeScope();
        var values = TruncatedNormal.Fill(empty(200_000), std: 0.02);
        Assert.InRange(values.std().item<float>(), 0.0185, 0.0205); // a ±2 absolute cut barely trims N(0, 0.02²)
        Assert.InRange(values.mean().item<float>(), -0.0005, 0.0005);
        var tight = TruncatedNormal.Fill(empty(200_000), std: 1, a: -1, b: 1);
        Assert.InRange(tight.min().item<float>(), -1f, -0.999f);
        Assert.InRange(tight.max().item<float>(), 0.999f, 1f);
    }

    [Theory]
    [InlineData("vit_pico_patch4_32")]
    [InlineData("swin_pico_patch2_window4_32")]
    [InlineData("mixer_pico_patch4_32")]
    [InlineData("convnext_test_pico")]
    [InlineData("resnet_pico")]
    [InlineData("mobilenetv1_pico")]
    public void EveryMatrixStartsRandomAndTheLogitsDependOnTheImage(string name)
    {
        TorchBackend.Initialize();
        using var scope = NewDisposeScope();
        manual_seed(1);
        using var model = ModelRegistry.Create(name, new ModelOptions(NumClasses: 10, ImageSize: 32));
        foreach (var (parameterName, parameter) in model.named_parameters().Where(p => p.parameter.dim() >= 2 && !p.name.StartsWith("head") && !p.name.StartsWith("fc") && !p.name.EndsWith("_token")))
            Assert.True(parameter.std().item<float>() > 1e-4, $"{name}: {parameterName} is (nearly) constant");
        model.eval();
        var features = model.ForwardStages(randn(4, 3, 32, 32)).PreLogits;
        Assert.True(features.std(0).mean().item<float>() > 1e-3, $"{name}: the pooled features hardly depend on the image");
    }
}
