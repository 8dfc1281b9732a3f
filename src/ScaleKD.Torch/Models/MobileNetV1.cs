using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ScaleKD.Torch.Models;

/// <summary>
/// MobileNetV1 as timm's <c>mobilenetv1_100</c> (<c>efficientnet.py</c>, <c>_gen_mobilenet_v1</c>): a 3×3/2 stem
/// <c>conv_stem</c> + <c>bn1</c> (ReLU6), five groups <c>blocks.0</c>–<c>blocks.4</c> of depthwise-separable blocks
/// (strides 1, 2, 2, 2, 2), no head convolution, global average pooling and <c>classifier</c>. The stage maps are the
/// outputs of <c>blocks.1</c>–<c>blocks.4</c> (strides 4, 8, 16, 32). Its blocks have no residual connection, so
/// <see cref="ModelOptions.DropPathRate"/> has no effect, as in timm.
/// </summary>
public sealed class MobileNetV1 : VisionModel
{
    /// <summary>Width and depth scaling of one configuration, as timm's channel and depth multipliers.</summary>
    internal sealed record Config(double ChannelMultiplier, double DepthMultiplier);

    /// <summary>timm's arch_def for MobileNetV1 ('dsa_r{repeats}_k3_s{stride}_c{channels}'), one entry per group.</summary>
    static readonly (int Repeats, int Stride, int Channels)[] Groups =
        [(1, 1, 64), (2, 2, 128), (2, 2, 256), (6, 2, 512), (2, 2, 1024)];

    const int StemChannels = 32;

    // Field names are timm's: they become the state-dict keys.
    readonly Conv2d conv_stem;
    readonly BatchNorm2d bn1;
    readonly Sequential blocks;
    readonly Linear classifier;

    readonly Sequential[] _groups; // the same modules as blocks.0–4, typed for the forward pass
    readonly int[] _groupChannels;

    internal MobileNetV1(string name, Config config, ModelOptions options) : base(name, options)
    {
        var stem = RoundChannels(StemChannels, config.ChannelMultiplier);
        conv_stem = nn.Conv2d(options.InChannels, stem, 3, stride: 2, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(stem);

        _groupChannels = new int[Groups.Length];
        _groups = new Sequential[Groups.Length];
        var inChannels = stem;
        for (var g = 0; g < Groups.Length; g++)
        {
            var (repeats, stride, channels) = Groups[g];
            var outChannels = _groupChannels[g] = RoundChannels(channels, config.ChannelMultiplier);
            var group = new List<nn.Module<Tensor, Tensor>>();
            // timm's depth scaling rounds each group's repeats up ('ceil').
            var scaledRepeats = (int)Math.Ceiling(repeats * config.DepthMultiplier);
            for (var i = 0; i < scaledRepeats; i++)
            {
                group.Add(new DepthwiseSeparableConv(inChannels, outChannels, i == 0 ? stride : 1));
                inChannels = outChannels;
            }
            _groups[g] = nn.Sequential(group);
        }
        blocks = nn.Sequential(_groups);
        NumFeatures = inChannels;
        classifier = nn.Linear(inChannels, options.NumClasses);
        RegisterComponents();
        InitializeLikeTimm();
    }

    /// <inheritdoc />
    public override ModelFamily Family => ModelFamily.MobileNetV1;

    /// <inheritdoc />
    public override int NumFeatures { get; }

    /// <inheritdoc />
    public override nn.Module<Tensor, Tensor> Classifier => classifier;

    /// <inheritdoc />
    public override StageFeatures ForwardStages(Tensor images)
    {
        CheckInput(images);
        var x = F.relu6(bn1.forward(conv_stem.forward(images)));
        var stages = new List<Tensor>(4);
        for (var g = 0; g < _groups.Length; g++)
        {
            x = _groups[g].forward(x);
            if (g >= 1) // groups 1–4 end at strides 4, 8, 16 and 32
                stages.Add(x);
        }
        var pooled = x.mean([2, 3]);
        return new StageFeatures(stages, pooled, classifier.forward(pooled));
    }

    /// <inheritdoc />
    public override IReadOnlyList<StageShape> StageShapes()
    {
        var size = FeatureMapSize.After(Options.ImageSize, kernel: 3, stride: 2, padding: 1);
        var shapes = new List<StageShape>(4);
        for (var g = 0; g < Groups.Length; g++)
        {
            size = FeatureMapSize.After(size, kernel: 3, stride: Groups[g].Stride, padding: 1);
            if (g >= 1)
                shapes.Add(new StageShape(_groupChannels[g], size, size));
        }
        return shapes;
    }

    /// <summary>timm's <c>round_channels</c>: the scaled width rounded to a multiple of 8 (at least 8), but never more
    /// than 10% below the scaled width.</summary>
    internal static int RoundChannels(int channels, double multiplier)
    {
        const int divisor = 8;
        var scaled = channels * multiplier;
        var rounded = Math.Max(divisor, (int)(scaled + divisor / 2.0) / divisor * divisor);
        return rounded < 0.9 * scaled ? rounded + divisor : rounded;
    }

    /// <summary>timm's <c>_init_weight_goog</c>: convolutions normal with std √(2 / fan-out) where fan-out is
    /// k·k·out / groups, BN at 1 and 0, the classifier uniform in ±1/√out with zero bias.</summary>
    void InitializeLikeTimm()
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in named_modules())
        {
            if (module is Conv2d conv)
            {
                var fanOut = conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels / conv.groups;
                nn.init.normal_(conv.weight, 0, Math.Sqrt(2.0 / fanOut));
            }
        }
        var range = 1.0 / Math.Sqrt(classifier.weight.shape[0]);
        nn.init.uniform_(classifier.weight, -range, range);
        nn.init.zeros_(classifier.bias!);
    }

    internal static IEnumerable<(string Name, Func<ModelOptions, VisionModel> Create)> Configurations()
    {
        yield return ("mobilenetv1_100", o => new MobileNetV1("mobilenetv1_100", new Config(1.0, 1.0), o));
        // A tiny configuration for tests on CPU (widths 8–128, 7 blocks), which timm builds as
        // timm.models.efficientnet._gen_mobilenet_v1('mobilenetv1_pico', 0.125, depth_multiplier=0.5).
        yield return ("mobilenetv1_pico", o => new MobileNetV1("mobilenetv1_pico", new Config(0.125, 0.5), o));
    }
}
