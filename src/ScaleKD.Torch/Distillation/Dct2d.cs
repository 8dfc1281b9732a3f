using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// The unnormalised 2-D DCT-II over the last two dimensions, X[k] = 2·Σ x[j]·cos(πk(2j+1)/2n) per axis, and its
/// inverse: the transform of the frequency view (paper Sec. 3.2). TorchSharp has no DCT, so it is built from the
/// basis matrix, which equals the official FFT-based implementation (a parity fixture checks it).
/// </summary>
public static class Dct2d
{
    /// <summary>DCT-II over (H, W) of a (…, H, W) tensor.</summary>
    public static Tensor Forward(Tensor x) => Apply(x, inverse: false);

    /// <summary>The inverse of <see cref="Forward"/>.</summary>
    public static Tensor Inverse(Tensor x) => Apply(x, inverse: true);

    /// <summary>The n×n DCT-II matrix in float64 on the CPU.</summary>
    public static Tensor Basis(long n)
    {
        using var k = arange(n, dtype: float64).unsqueeze(1);
        using var j = arange(n, dtype: float64).unsqueeze(0);
        return 2 * cos(Math.PI * k * (2 * j + 1) / (2.0 * n));
    }

    static Tensor Apply(Tensor x, bool inverse)
    {
        using var rows = Matrix(x.shape[^2], inverse, x);
        using var columns = Matrix(x.shape[^1], inverse, x);
        return matmul(matmul(rows, x), columns.t());
    }

    static Tensor Matrix(long n, bool inverse, Tensor like)
    {
        using var basis = Basis(n);
        using var matrix = inverse ? linalg.inv(basis) : basis.alias();
        return matrix.to(like.dtype, like.device);
    }
}
