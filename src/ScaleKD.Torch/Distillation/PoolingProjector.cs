using ScaleKD.Torch.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// The projector used when CAP is switched off (the paper's ablation baseline): a 1×1 conv to the teacher's
/// channels and average pooling to its grid, flattened to tokens. It has no queries, so it ignores any passed in.
/// </summary>
public sealed class PoolingProjector : nn.Module<Tensor, Tensor?, Tensor>
{
    readonly Conv2d proj;
    readonly long[] _grid;

    /// <summary>Projects Cs channels to <paramref name="teacherChannels"/> on a <paramref name="height"/>×<paramref name="width"/> grid.</summary>
    public PoolingProjector(long studentChannels, long teacherChannels, long height, long width) : base(nameof(PoolingProjector))
    {
        proj = nn.Conv2d(studentChannels, teacherChannels, 1);
        _grid = [height, width];
        RegisterComponents();
    }

    /// <returns>(N, H·W, Ct).</returns>
    public override Tensor forward(Tensor studentMap, Tensor? queries) =>
        TokenMaps.ToTokens(nn.functional.adaptive_avg_pool2d(proj.forward(studentMap), _grid));
}
