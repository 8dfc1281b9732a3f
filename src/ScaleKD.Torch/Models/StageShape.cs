namespace ScaleKD.Torch.Models;

/// <summary>The shape of one stage's feature map, per image: channels × height × width.</summary>
public readonly record struct StageShape(int Channels, int Height, int Width)
{
    /// <summary>Number of spatial positions (tokens) in the map.</summary>
    public int Tokens => Height * Width;

    /// <inheritdoc />
    public override string ToString() => $"{Channels}×{Height}×{Width}";
}
