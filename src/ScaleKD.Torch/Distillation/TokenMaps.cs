using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>Conversions between token sequences (N, H·W, C) and feature maps (N, C, H, W), row-major over H, W.</summary>
public static class TokenMaps
{
    /// <summary>(N, H·W, C) → (N, C, H, W).</summary>
    public static Tensor ToMap(Tensor tokens, long height, long width) =>
        tokens.permute(0, 2, 1).reshape(tokens.shape[0], tokens.shape[2], height, width);

    /// <summary>(N, C, H, W) → (N, H·W, C).</summary>
    public static Tensor ToTokens(Tensor map) => map.flatten(2).transpose(1, 2);
}
