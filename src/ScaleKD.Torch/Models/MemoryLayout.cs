using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>
/// Channels-last (NHWC-strided) layout for convolutional networks. TorchSharp 0.107 has no <c>memory_format</c>
/// argument, so the layout is made the way PyTorch stores it: permute to NHWC, copy contiguously, view as NCHW again.
/// Shapes and values do not change; oneDNN's and cuDNN's convolutions keep the layout from layer to layer.
/// </summary>
public static class MemoryLayout
{
    /// <summary>A channels-last copy of a 4-D tensor (N, C, H, W).</summary>
    public static Tensor ToChannelsLast(Tensor nchw)
    {
        if (nchw.dim() != 4)
            throw new ArgumentException($"Channels-last needs a 4-D (N, C, H, W) tensor; got shape [{string.Join(", ", nchw.shape)}].", nameof(nchw));
        return nchw.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
    }

    /// <summary>Re-lays every 4-D parameter (convolution weight) of <paramref name="model"/> channels-last in place, as
    /// PyTorch's <c>model.to(memory_format=torch.channels_last)</c> does. Do it before the optimizer is created.</summary>
    public static void ToChannelsLast(nn.Module model)
    {
        using var noGrad = no_grad();
        foreach (var parameter in model.parameters().Where(p => p.dim() == 4))
        {
            using var relaid = ToChannelsLast(parameter);
            parameter.set_(relaid);
        }
    }

    /// <summary>Whether a 4-D tensor is laid out channels-last: C, then W, H and N each step over the ones before, as
    /// PyTorch's <c>is_contiguous(memory_format=torch.channels_last)</c> (dimensions of size 1 have no stride to check).</summary>
    public static bool IsChannelsLast(Tensor tensor)
    {
        if (tensor.dim() != 4)
            return false;
        var expected = 1L;
        foreach (var dim in new[] { 1, 3, 2, 0 })
        {
            if (tensor.shape[dim] == 1)
                continue;
            if (tensor.stride(dim) != expected)
                return false;
            expected *= tensor.shape[dim];
        }
        return true;
    }
}
