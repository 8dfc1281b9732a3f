using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>Conversions between token sequences (N, H·W, C) and feature maps (N, C, H, W), row-major over H, W.</summary>
public static class TokenMaps
{
    /// <summary>(N, H·W, C) tokens, row-major over the grid, to an (N, C, H, W) map (a view where possible).</summary>
    public static Tensor ToMap(Tensor tokens, long height, long width) =>
        tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], height, width);

    /// <summary>(N, C, H, W) map to (N, H·W, C) tokens.</summary>
    public static Tensor ToTokens(Tensor map) => map.flatten(2).transpose(1, 2);

    /// <summary>Fails clearly unless 1 ≤ <paramref name="stage"/> ≤ 3 and <paramref name="tokens"/> is (N, H·W, C) of that stage.</summary>
    internal static void CheckFromStage(VisionModel model, Tensor tokens, int stage)
    {
        if (stage is < 1 or > 3)
            throw new ArgumentOutOfRangeException(nameof(stage), stage, "ForwardFromStage starts after stage 1, 2 or 3.");
        var shape = model.StageShapes()[stage - 1];
        if (tokens.dim() != 3 || tokens.shape[1] != shape.Tokens || tokens.shape[2] != shape.Channels)
            throw new ArgumentException(
                $"{model.GetName()} expects stage-{stage} tokens shaped (N, {shape.Tokens}, {shape.Channels}) ({shape}); got ({string.Join(", ", tokens.shape)}).",
                nameof(tokens));
    }
}
