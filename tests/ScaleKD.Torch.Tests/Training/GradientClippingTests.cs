using ScaleKD.Torch.Training.Optimization;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>The device-side clip against TorchSharp's <c>clip_grad_norm_</c> (libtorch's, returning a double).</summary>
[Trait("Category", "Optimization")]
public sealed class GradientClippingTests : TensorScopeTest
{
    [Theory]
    [InlineData(0.5)]   // clips
    [InlineData(1e3)]   // leaves the gradients alone
    public void ClipsLikeLibtorchAndReturnsTheNormBeforeClipping(double maxNorm)
    {
        manual_seed(3);
        var ours = new TinyTokenNet();
        var theirs = new TinyTokenNet().LoadFromBytes(ours.SaveToBytes());
        var x = randn(5, 4, 6);
        var y = randint(0, 3, [5]);
        foreach (var model in new[] { ours, theirs })
            (nn.functional.cross_entropy(model.forward(x), y) * 10).backward();

        var unclipped = ours.parameters().Select(p => p.grad!.clone()).ToList();
        var norm = GradientClipping.ClipByGlobalNorm(ours.parameters(), maxNorm);
        var expectedNorm = nn.utils.clip_grad_norm_(theirs.parameters(), maxNorm);

        Assert.Empty(norm.shape);
        Assert.Equal(expectedNorm, norm.item<float>(), expectedNorm * 1e-6);
        foreach (var (mine, reference) in ours.parameters().Zip(theirs.parameters()))
            Assert.True(mine.grad!.allclose(reference.grad!, rtol: 1e-6, atol: 0), "gradient differs from libtorch's clip");
        if (expectedNorm < maxNorm)
            Assert.All(ours.parameters().Zip(unclipped), pair => BitIdentical.Assert(pair.Second, pair.First.grad!, "unclipped gradient"));
        else
            Assert.Equal(maxNorm, linalg.vector_norm(stack(ours.parameters().Select(p => linalg.vector_norm(p.grad!)))).item<float>(), maxNorm * 1e-5);
    }
}
