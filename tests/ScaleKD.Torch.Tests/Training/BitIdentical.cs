using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>Exact equality: same dtype, shape and bytes (TorchSharp's <c>equal</c> is element-wise, not torch.equal).</summary>
static class BitIdentical
{
    public static bool Check(Tensor expected, Tensor actual) =>
        expected.dtype == actual.dtype && expected.shape.SequenceEqual(actual.shape)
        && expected.contiguous().cpu().bytes.SequenceEqual(actual.contiguous().cpu().bytes);

    public static void Assert(Tensor expected, Tensor actual, string label) =>
        Xunit.Assert.True(Check(expected, actual),
            $"{label} differs by up to {(expected.to(float64) - actual.to(float64)).abs().max().item<double>():E3}");

    public static void AssertStates(nn.Module expected, nn.Module actual, string label)
    {
        var actualState = actual.state_dict();
        foreach (var (name, tensor) in expected.state_dict())
            Assert(tensor, actualState[name], $"{label}: {name}");
    }
}
