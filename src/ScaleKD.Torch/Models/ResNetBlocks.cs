using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ScaleKD.Torch.Models;

// Field names are timm's attribute names: they become the state-dict keys (layerN.M.conv1.weight, …).

/// <summary>The kind of residual block a ResNet is built from.</summary>
internal enum ResNetBlockKind
{
    /// <summary>Two 3×3 convolutions (ResNet-18/34); output width = planes.</summary>
    Basic,
    /// <summary>1×1 reduce, 3×3, 1×1 expand (ResNet-50 and deeper); output width = 4 · planes.</summary>
    Bottleneck,
}

/// <summary>A ResNet residual block: a convolution branch plus a shortcut, then ReLU.</summary>
internal abstract class ResNetBlock : nn.Module<Tensor, Tensor>
{
    protected ResNetBlock(string name) : base(name) { }

    /// <summary>How much wider the block's output is than its planes.</summary>
    public static int Expansion(ResNetBlockKind kind) => kind == ResNetBlockKind.Bottleneck ? 4 : 1;

    /// <summary>Builds one block; <paramref name="stride"/> 2 halves the map in the 3×3 convolution.</summary>
    public static ResNetBlock Create(ResNetBlockKind kind, int inPlanes, int planes, int stride, double dropPath)
    {
        var outPlanes = planes * Expansion(kind);
        // timm projects the shortcut with a strided 1×1 conv and BN whenever the shape changes.
        var downsample = stride != 1 || inPlanes != outPlanes
            ? nn.Sequential(nn.Conv2d(inPlanes, outPlanes, 1, stride: stride, bias: false), nn.BatchNorm2d(outPlanes))
            : null;
        return kind == ResNetBlockKind.Bottleneck
            ? new BottleneckBlock(inPlanes, planes, stride, downsample, dropPath)
            : new BasicBlock(inPlanes, planes, stride, downsample, dropPath);
    }

    /// <summary>The last BatchNorm of the residual branch, zeroed at initialisation (timm <c>zero_init_last</c>)
    /// so that each block starts as an identity.</summary>
    public abstract BatchNorm2d LastNorm { get; }
}

/// <summary>timm <c>BasicBlock</c>: conv3×3 (stride) → BN → ReLU → conv3×3 → BN, plus the shortcut, then ReLU.</summary>
internal sealed class BasicBlock : ResNetBlock
{
    readonly Conv2d conv1;
    readonly BatchNorm2d bn1;
    readonly Conv2d conv2;
    readonly BatchNorm2d bn2;
    readonly Sequential? downsample;
    readonly DropPath drop_path;

    public BasicBlock(int inPlanes, int planes, int stride, Sequential? downsample, double dropPath) : base(nameof(BasicBlock))
    {
        conv1 = nn.Conv2d(inPlanes, planes, 3, stride: stride, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(planes);
        conv2 = nn.Conv2d(planes, planes, 3, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(planes);
        this.downsample = downsample;
        drop_path = new DropPath(dropPath);
        RegisterComponents();
    }

    public override BatchNorm2d LastNorm => bn2;

    public override Tensor forward(Tensor x)
    {
        var shortcut = downsample is null ? x : downsample.forward(x);
        var y = F.relu(bn1.forward(conv1.forward(x)));
        y = bn2.forward(conv2.forward(y));
        return F.relu(drop_path.forward(y) + shortcut);
    }
}

/// <summary>timm <c>Bottleneck</c>: conv1×1 → BN → ReLU → conv3×3 (stride) → BN → ReLU → conv1×1 (×4 wide) → BN, plus the
/// shortcut, then ReLU.</summary>
internal sealed class BottleneckBlock : ResNetBlock
{
    readonly Conv2d conv1;
    readonly BatchNorm2d bn1;
    readonly Conv2d conv2;
    readonly BatchNorm2d bn2;
    readonly Conv2d conv3;
    readonly BatchNorm2d bn3;
    readonly Sequential? downsample;
    readonly DropPath drop_path;

    public BottleneckBlock(int inPlanes, int planes, int stride, Sequential? downsample, double dropPath) : base("Bottleneck")
    {
        conv1 = nn.Conv2d(inPlanes, planes, 1, bias: false);
        bn1 = nn.BatchNorm2d(planes);
        conv2 = nn.Conv2d(planes, planes, 3, stride: stride, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(planes);
        conv3 = nn.Conv2d(planes, planes * 4, 1, bias: false);
        bn3 = nn.BatchNorm2d(planes * 4);
        this.downsample = downsample;
        drop_path = new DropPath(dropPath);
        RegisterComponents();
    }

    public override BatchNorm2d LastNorm => bn3;

    public override Tensor forward(Tensor x)
    {
        var shortcut = downsample is null ? x : downsample.forward(x);
        var y = F.relu(bn1.forward(conv1.forward(x)));
        y = F.relu(bn2.forward(conv2.forward(y)));
        y = bn3.forward(conv3.forward(y));
        return F.relu(drop_path.forward(y) + shortcut);
    }
}
