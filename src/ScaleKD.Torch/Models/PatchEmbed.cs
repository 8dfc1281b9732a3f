using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>
/// Non-overlapping patch embedding (timm <c>PatchEmbed</c>: <c>proj</c>, optional <c>norm</c>): a strided convolution
/// from (N, C, H, W) images to channels-last patch maps (N, H/p, W/p, D).
/// </summary>
internal sealed class PatchEmbed : nn.Module<Tensor, Tensor>
{
    readonly Conv2d proj;
    readonly LayerNorm? norm;

    /// <param name="normEps">The epsilon of a LayerNorm after the projection, or null for none.</param>
    public PatchEmbed(int inChannels, int embedDim, int patchSize, double? normEps = null) : base(nameof(PatchEmbed))
    {
        proj = nn.Conv2d(inChannels, embedDim, patchSize, stride: patchSize);
        if (normEps is double eps)
            norm = nn.LayerNorm(embedDim, eps);
        RegisterComponents();
    }

    /// <summary>The convolution, for weight initialisation.</summary>
    public Conv2d Projection => proj;

    public override Tensor forward(Tensor images)
    {
        var x = proj.forward(images).permute(0, 2, 3, 1);
        return norm is null ? x.contiguous() : norm.forward(x);
    }
}
