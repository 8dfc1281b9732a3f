using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Data;

/// <summary>A batch of images with class labels, owned by whoever receives it (dispose it when done).</summary>
/// <param name="Images">(N, C, H, W) float32 in [0, 1], on the CPU.</param>
/// <param name="Labels">(N) int64 class indices.</param>
public sealed record LabeledBatch(Tensor Images, Tensor Labels) : IDisposable
{
    /// <summary>Number of examples.</summary>
    public long Count => Labels.shape[0];

    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}
