using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>
/// Fills a tensor from N(mean, std²) truncated to [a, b] (absolute bounds, as timm's <c>trunc_normal_</c>), by
/// inverse-CDF sampling.
/// </summary>
/// <remarks>TorchSharp 0.107's <c>nn.init.trunc_normal_</c> is broken: <c>trunc_normal_(t, 0, 0.02, -2, 2)</c> fills
/// the tensor with the constant 0.02, which leaves every initialised layer symmetric and a model untrainable from
/// scratch. A test guards this replacement.</remarks>
static class TruncatedNormal
{
    public static Tensor Fill(Tensor tensor, double std, double mean = 0.0, double a = -2.0, double b = 2.0)
    {
        using var noGrad = no_grad();
        double Cdf(double x) => (1 + Erf(x / Math.Sqrt(2))) / 2;
        var lower = Cdf((a - mean) / std);
        var upper = Cdf((b - mean) / std);
        // Scalars held by name until the end: an implicit double-to-Scalar conversion leaves the Scalar unreachable as
        // soon as its handle is read, and a finalizer that runs during the native call frees it under libtorch
        // ("Unknown scalar type" in a full, parallel test run, in a model's constructor). Upstream: dotnet/TorchSharp#1434.
        using var scale = (std * Math.Sqrt(2)).ToScalar();
        using var shift = mean.ToScalar();
        using var low = a.ToScalar();
        using var high = b.ToScalar();
        tensor.uniform_(2 * lower - 1, 2 * upper - 1);
        tensor.erfinv_();
        tensor.mul_(scale).add_(shift);
        tensor.clamp_(low, high);
        return tensor;
    }

    static double Erf(double x)
    {
        using var value = tensor(x, float64);
        using var result = special.erf(value);
        return result.item<double>();
    }
}
