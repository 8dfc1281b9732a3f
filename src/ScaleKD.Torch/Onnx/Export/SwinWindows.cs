using ScaleKD.Torch.Models;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Onnx.Export;

/// <summary>
/// A Swin block's window geometry as constants. The cyclic shift (roll by −shift), the zero padding to a multiple of
/// the window, and the partition into windows together only move tokens, so they are one Gather of the (N, H·W, C)
/// tokens with a constant index (padded positions read one appended zero token); the reverse (merge windows, crop,
/// roll by +shift) is another Gather. The relative position bias and the shifted-window mask become one additive
/// constant for the attention scores.
/// </summary>
sealed class SwinWindows
{
    SwinWindows(long[] partition, long[] merge, int windows, int area)
    {
        Partition = partition;
        Merge = merge;
        Windows = windows;
        Area = area;
    }

    /// <summary>For each token of the windowed sequence (window-major, row-major within a window), the token of the
    /// map it reads, or H·W for the zero token that padding adds.</summary>
    public long[] Partition { get; }

    /// <summary>For each token of the map, where it sits in the windowed sequence.</summary>
    public long[] Merge { get; }

    /// <summary>Windows per image.</summary>
    public int Windows { get; }

    /// <summary>Tokens per window.</summary>
    public int Area { get; }

    /// <summary>Whether any window position is padding (the partition then reads the appended zero token).</summary>
    public bool Padded => Partition.Length > Merge.Length;

    /// <summary>Whether partition and merge leave the order unchanged (one window covering the unshifted map).</summary>
    public bool Identity => !Padded && Partition.Select((source, t) => source == t).All(same => same);

    /// <summary>The geometry <see cref="SwinBlock.forward"/> uses for a <paramref name="resolution"/>² map.</summary>
    public static SwinWindows Of(SwinBlock block, int resolution)
    {
        int window = block.Window, shift = block.Shift, padded = block.PaddedSize;
        var perSide = padded / window;
        var area = window * window;
        var partition = new long[perSide * perSide * area];
        var merge = new long[resolution * resolution];
        for (var a = 0; a < perSide; a++)
        for (var b = 0; b < perSide; b++)
        for (var p = 0; p < window; p++)
        for (var q = 0; q < window; q++)
        {
            var t = (a * perSide + b) * area + p * window + q;
            int i = a * window + p, j = b * window + q; // position on the shifted, padded map
            if (i >= resolution || j >= resolution)
            {
                partition[t] = (long)resolution * resolution;
                continue;
            }
            // roll(−shift)[i, j] = x[(i + shift) mod H, (j + shift) mod W]; the reverse roll puts it back there.
            var source = (i + shift) % resolution * resolution + (j + shift) % resolution;
            partition[t] = source;
            merge[source] = t;
        }
        return new SwinWindows(partition, merge, perSide * perSide, area);
    }

    /// <summary>The scores' additive constant: the relative position bias (heads, area, area) gathered from
    /// <paramref name="table"/>, plus, for a shifted block, its mask per window: (windows or 1, heads, area, area).</summary>
    public static Tensor AttentionBias(SwinBlock block, Tensor table)
    {
        var window = block.Window;
        var area = window * window;
        var heads = table.shape[1];
        using var index = WindowAttention.RelativePositionIndex(window);
        var bias = table.detach().cpu().to(float32).index_select(0, index).reshape(area, area, heads).permute(2, 0, 1).unsqueeze(0);
        if (block.Shift == 0)
            return bias.contiguous();
        using var mask = SwinBlock.ShiftMask(block.PaddedSize, window, block.Shift);
        return (bias + mask.unsqueeze(1)).contiguous();
    }
}
