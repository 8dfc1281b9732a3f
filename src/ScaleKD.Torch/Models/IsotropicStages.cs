using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>
/// Stages of an isotropic model (ViT, MLP-Mixer): one token grid and one width throughout, so the four "stages"
/// ScaleKD needs are four equal groups of blocks, the last one followed by the final norm.
/// </summary>
static class IsotropicStages
{
    /// <summary>The token grid side and blocks per stage, failing clearly on a depth or image size that cannot work.</summary>
    public static (int Grid, int BlocksPerStage) Layout(int depth, int patchSize, ModelOptions options)
    {
        if (depth < 4 || depth % 4 != 0)
            throw new ArgumentException($"Depth {depth} does not split into four equal stages.", nameof(depth));
        if (options.ImageSize < patchSize)
            throw new ArgumentException($"Image size {options.ImageSize} is smaller than the patch size {patchSize}.", nameof(options));
        return (options.ImageSize / patchSize, depth / 4);
    }

    /// <summary>Runs all blocks on <paramref name="x"/> and collects the map after each stage (after the norm for the
    /// last); returns the final tokens too.</summary>
    /// <param name="toMap">Turns tokens into a stage map (dropping a class token, if any).</param>
    public static (List<Tensor> Maps, Tensor Tokens) Run(Tensor x, int blocksPerStage, Func<int, Tensor, Tensor> block,
        Func<Tensor, Tensor> norm, Func<Tensor, Tensor> toMap)
    {
        var maps = new List<Tensor>(4);
        for (var stage = 0; stage < 4; stage++)
        {
            for (var i = stage * blocksPerStage; i < (stage + 1) * blocksPerStage; i++)
                x = block(i, x);
            if (stage == 3)
                x = norm(x);
            maps.Add(toMap(x));
        }
        return (maps, x);
    }
}
