using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>
/// Affine warps of (N, C, H, W) images with PIL's Image.transform(AFFINE) conventions, for RandAugment's rotate, shear
/// and translate ops.
/// </summary>
/// <remarks>
/// Coefficients (a, b, c, d, e, f) map the centre (x + ½, y + ½) of output pixel (x, y) to the input point
/// (a·x' + b·y' + c, d·x' + e·y' + f), in pixel units with the image's top-left corner at (0, 0). As in PIL's
/// bilinear filter, a point inside the image is interpolated with edge clamping and a point outside it takes the fill
/// colour, a hard edge (grid_sample with border padding, then a mask computed in float64 like PIL's). Only bilinear
/// sampling is offered: TorchSharp 0.107 does not expose grid_sample's bicubic mode, and PyTorch's cubic kernel is not
/// PIL's anyway. Timm picks bilinear or bicubic at random per op unless an interpolation is configured.
/// </remarks>
public static class AffineWarp
{
    /// <summary>The identity transform.</summary>
    public static double[] Identity => [1, 0, 0, 0, 1, 0];

    /// <summary>
    /// A rotation by <paramref name="degrees"/> counter-clockwise about the image centre, without expanding the
    /// canvas: PIL's Image.rotate, including its rounding of the cosine and sine to 15 decimals. Multiples of 360° give
    /// the exact identity, as PIL copies the image then.
    /// </summary>
    public static double[] Rotation(double degrees, int width, int height)
    {
        // Python's modulo (non-negative for a positive divisor) and math.radians, step by step as PIL computes them.
        var reduced = degrees % 360.0;
        if (reduced < 0)
            reduced += 360.0;
        if (reduced == 0)
            return Identity;
        var angle = -(reduced * (Math.PI / 180.0));
        var (cos, sin) = (RoundTo15Decimals(Math.Cos(angle)), RoundTo15Decimals(Math.Sin(angle)));
        var (centerX, centerY) = (width / 2.0, height / 2.0);
        // PIL maps the centre back onto itself: c = a·(−cx) + b·(−cy) + cx, f = d·(−cx) + e·(−cy) + cy.
        return [cos, sin, cos * -centerX + sin * -centerY + centerX, -sin, cos, -sin * -centerX + cos * -centerY + centerY];
    }

    // Python's round(v, 15) rounds the exact binary value correctly to 15 decimals; .NET's Math.Round(v, 15) scales by
    // 1e15 first and can land one unit in the last place away. Formatting is correctly rounded in .NET Core 3.0+.
    static double RoundTo15Decimals(double value) =>
        double.Parse(value.ToString("F15", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Horizontal shear about the top edge: output (x, y) samples input x + factor·y (timm's shear_x).</summary>
    public static double[] ShearX(double factor) => [1, factor, 0, 0, 1, 0];

    /// <summary>Vertical shear about the left edge: output (x, y) samples input y + factor·x (timm's shear_y).</summary>
    public static double[] ShearY(double factor) => [1, 0, 0, factor, 1, 0];

    /// <summary>Output (x, y) samples input (x + dx, y + dy): the content moves by (−dx, −dy) pixels (timm's translate ops).</summary>
    public static double[] Translation(double dx, double dy) => [1, 0, dx, 0, 1, dy];

    /// <summary>
    /// Warps image i of the batch with <paramref name="coefficients"/>[i] (or all images with a single set); points
    /// outside the input take <paramref name="fill"/>, one value in [0, 1] per channel or one for all channels. Images
    /// whose coefficients are exactly the identity are returned unchanged.
    /// </summary>
    public static Tensor Apply(Tensor images, IReadOnlyList<double[]> coefficients, IReadOnlyList<double> fill)
    {
        ImageResize.RequireBatch(images);
        var (n, channels, height, width) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3]);
        if (coefficients.Count != 1 && coefficients.Count != n)
            throw new ArgumentException($"Expected 1 or {n} coefficient sets, got {coefficients.Count}.", nameof(coefficients));
        if (coefficients.Any(m => m.Length != 6))
            throw new ArgumentException("Each coefficient set has six values (a, b, c, d, e, f).", nameof(coefficients));
        if (fill.Count != 1 && fill.Count != channels)
            throw new ArgumentException($"Expected 1 or {channels} fill values, got {fill.Count}.", nameof(fill));

        using var scope = NewDisposeScope();
        var matrices = tensor(coefficients.SelectMany(m => m).ToArray(), dtype: float64, device: images.device).view(-1, 6, 1, 1);
        var x = (arange(width, float64, images.device) + 0.5).view(1, 1, width);
        var y = (arange(height, float64, images.device) + 0.5).view(1, height, 1);
        Tensor Coefficient(int k) => matrices[.., k];
        // Same operation order as PIL's affine_transform, (a·x + b·y) + c, so the inside/outside decisions agree exactly.
        var sourceX = Coefficient(0) * x + Coefficient(1) * y + Coefficient(2);
        var sourceY = Coefficient(3) * x + Coefficient(4) * y + Coefficient(5);
        var inside = (sourceX >= 0) & (sourceX < width) & (sourceY >= 0) & (sourceY < height);
        // grid_sample's normalised coordinates with align_corners = false: −1 and 1 are the image's outer edges.
        // Scalars held by name through the calls: TorchSharp 0.107's implicit conversions leave a Scalar unreachable while
        // libtorch still reads it, and its finalizer can free it mid-call on a loaded machine ("Unknown scalar type",
        // seen in this background augmentation). Upstream: dotnet/TorchSharp#1434.
        using var xScale = (2.0 / width).ToScalar();
        using var yScale = (2.0 / height).ToScalar();
        using var one = 1.0.ToScalar();
        var grid = stack([sourceX.mul(xScale).sub(one), sourceY.mul(yScale).sub(one)], -1).expand(n, height, width, 2).to(images.dtype);
        var sampled = nn.functional.grid_sample(images, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Border, align_corners: false);
        var fillColor = tensor(fill.ToArray(), dtype: images.dtype, device: images.device).view(1, -1, 1, 1);
        var warped = sampled.where(inside.unsqueeze(1).expand(n, 1, height, width), fillColor);
        var identity = coefficients.Select(m => m.SequenceEqual(Identity)).ToArray();
        if (identity.Any(i => i))
        {
            var keep = tensor(coefficients.Count == 1 ? Enumerable.Repeat(identity[0], (int)n).ToArray() : identity, device: images.device);
            warped = images.where(keep.view(-1, 1, 1, 1), warped);
        }
        return warped.MoveToOuterDisposeScope();
    }
}
