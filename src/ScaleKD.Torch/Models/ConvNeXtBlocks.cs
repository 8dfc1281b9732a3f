using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ScaleKD.Torch.Models;

// Field names are timm's attribute names: they become the state-dict keys (stages.i.blocks.j.mlp.fc1.weight, …).

/// <summary>timm <c>Mlp</c> as ConvNeXt uses it on channels-last maps: <c>fc1</c> (4× wider) → exact GELU → <c>fc2</c>.</summary>
internal sealed class ConvNeXtMlp : nn.Module<Tensor, Tensor>
{
    readonly Linear fc1;
    readonly Linear fc2;

    public ConvNeXtMlp(int channels, int hidden) : base("Mlp")
    {
        fc1 = nn.Linear(channels, hidden);
        fc2 = nn.Linear(hidden, channels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => fc2.forward(F.gelu(fc1.forward(x)));
}

/// <summary>
/// timm <c>ConvNeXtBlock</c> (channels-last form): 7×7 depthwise <c>conv_dw</c> → LayerNorm over channels (<c>norm</c>,
/// eps 1e-6) → <c>mlp</c> → per-channel layer scale <c>gamma</c>, then drop path and the identity shortcut.
/// </summary>
internal sealed class ConvNeXtBlock : nn.Module<Tensor, Tensor>
{
    /// <summary>timm's <c>ls_init_value</c>: the residual branch starts almost switched off.</summary>
    public const double LayerScaleInit = 1e-6;

    readonly Conv2d conv_dw;
    readonly LayerNorm norm;
    readonly ConvNeXtMlp mlp;
    readonly Parameter gamma;
    readonly DropPath drop_path;

    public ConvNeXtBlock(int channels, double dropPath) : base(nameof(ConvNeXtBlock))
    {
        conv_dw = nn.Conv2d(channels, channels, 7, padding: 3, groups: channels);
        norm = nn.LayerNorm(channels, eps: 1e-6);
        mlp = new ConvNeXtMlp(channels, 4 * channels);
        gamma = nn.Parameter(full(channels, LayerScaleInit));
        drop_path = new DropPath(dropPath);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var branch = conv_dw.forward(x).permute(0, 2, 3, 1);
        branch = mlp.forward(norm.forward(branch)).permute(0, 3, 1, 2);
        branch = branch * gamma.reshape(1, -1, 1, 1);
        return drop_path.forward(branch) + x;
    }
}

/// <summary>
/// timm <c>ConvNeXtStage</c>: for every stage but the first a <c>downsample</c> of LayerNorm2d then a 2×2/2 conv, then
/// the <c>blocks</c>. The first stage has no downsample (timm's is an <c>nn.Identity</c>, which has no keys).
/// </summary>
internal sealed class ConvNeXtStage : nn.Module<Tensor, Tensor>
{
    readonly Sequential? downsample;
    readonly Sequential blocks;

    public ConvNeXtStage(int inChannels, int outChannels, IReadOnlyList<double> dropPaths, bool downsamples) : base(nameof(ConvNeXtStage))
    {
        if (downsamples)
            downsample = nn.Sequential(new LayerNorm2d(inChannels), nn.Conv2d(inChannels, outChannels, 2, stride: 2));
        else if (inChannels != outChannels)
            throw new ArgumentException("A stage without downsampling keeps its width.", nameof(outChannels));
        blocks = nn.Sequential(dropPaths.Select(p => (nn.Module<Tensor, Tensor>)new ConvNeXtBlock(outChannels, p)));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => blocks.forward(downsample is null ? x : downsample.forward(x));
}

/// <summary>
/// timm <c>NormMlpClassifierHead</c> without a hidden layer, ConvNeXt's default head: global average pool →
/// LayerNorm2d <c>norm</c> → flatten → <c>fc</c>. The pre-logits are the normalised pooled features.
/// </summary>
internal sealed class NormMlpClassifierHead : nn.Module<Tensor, Tensor>
{
    readonly LayerNorm2d norm;
    readonly Linear fc;

    public NormMlpClassifierHead(int channels, int numClasses) : base(nameof(NormMlpClassifierHead))
    {
        norm = new LayerNorm2d(channels);
        fc = nn.Linear(channels, numClasses);
        RegisterComponents();
    }

    /// <summary>The classifier proper, pre-logits to logits.</summary>
    public Linear Fc => fc;

    /// <summary>Pooled and normalised features (N, C) of a map (N, C, H, W).</summary>
    public Tensor PreLogits(Tensor map) => norm.forward(map.mean([2, 3], keepdim: true)).flatten(1);

    /// <summary>Logits of a map (N, C, H, W).</summary>
    public override Tensor forward(Tensor map) => fc.forward(PreLogits(map));
}
