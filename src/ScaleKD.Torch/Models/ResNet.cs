using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ScaleKD.Torch.Models;

/// <summary>
/// ResNet as timm builds it by default (<c>resnet.py</c>): a 7×7/2 stem of 64 channels with BN, ReLU and a 3×3/2 max
/// pool, four stages <c>layer1</c>–<c>layer4</c> of residual blocks (strides 1, 2, 2, 2), global average pooling and
/// <c>fc</c>. The stage maps are the outputs of <c>layer1</c>–<c>layer4</c> (strides 4, 8, 16, 32).
/// </summary>
/// <remarks>As a ScaleKD teacher, TPP runs <c>layer4</c> on a stage-3 map (<see cref="ForwardFromStage"/>).</remarks>
public sealed class ResNet : VisionModel, ITeacherModel
{
    /// <summary>The stage layout of one configuration.</summary>
    /// <param name="Block">The residual block of every stage.</param>
    /// <param name="Layers">Blocks per stage.</param>
    /// <param name="Channels">Planes per stage; the stage's output width is planes × the block's expansion.</param>
    internal sealed record Config(ResNetBlockKind Block, int[] Layers, int[] Channels);

    /// <summary>timm's stem is 64 channels wide whatever the stage widths (stem_type '').</summary>
    const int StemWidth = 64;

    // Field names are timm's: they become the state-dict keys.
    readonly Conv2d conv1;
    readonly BatchNorm2d bn1;
    readonly Sequential layer1;
    readonly Sequential layer2;
    readonly Sequential layer3;
    readonly Sequential layer4;
    readonly Linear fc;

    readonly Config _config;

    internal ResNet(string name, Config config, ModelOptions options) : base(name, options)
    {
        _config = config;
        conv1 = nn.Conv2d(options.InChannels, StemWidth, 7, stride: 2, padding: 3, bias: false);
        bn1 = nn.BatchNorm2d(StemWidth);

        var stages = new Sequential[4];
        var dropPathRates = DropPath.LinearRates(options.DropPathRate, config.Layers.Sum());
        var blockIndex = 0;
        var inPlanes = StemWidth;
        for (var stage = 0; stage < 4; stage++)
        {
            var blocks = new List<nn.Module<Tensor, Tensor>>();
            for (var i = 0; i < config.Layers[stage]; i++)
            {
                var stride = stage > 0 && i == 0 ? 2 : 1;
                var dropPath = dropPathRates[blockIndex++];
                blocks.Add(ResNetBlock.Create(config.Block, inPlanes, config.Channels[stage], stride, dropPath));
                inPlanes = config.Channels[stage] * ResNetBlock.Expansion(config.Block);
            }
            stages[stage] = nn.Sequential(blocks);
        }
        (layer1, layer2, layer3, layer4) = (stages[0], stages[1], stages[2], stages[3]);
        NumFeatures = inPlanes;
        fc = nn.Linear(inPlanes, options.NumClasses);
        RegisterComponents();
        InitializeLikeTimm();
    }

    /// <inheritdoc />
    public override ModelFamily Family => ModelFamily.ResNet;

    /// <inheritdoc />
    public override int NumFeatures { get; }

    /// <inheritdoc />
    public override nn.Module<Tensor, Tensor> Classifier => fc;

    /// <inheritdoc />
    public override StageFeatures ForwardStages(Tensor images)
    {
        CheckInput(images);
        var x = F.relu(bn1.forward(conv1.forward(images)));
        x = F.max_pool2d(x, [3, 3], [2, 2], [1, 1]);
        var stages = new List<Tensor>(4);
        foreach (var layer in new[] { layer1, layer2, layer3, layer4 })
        {
            x = layer.forward(x);
            stages.Add(x);
        }
        var pooled = x.mean([2, 3]);
        return new StageFeatures(stages, pooled, fc.forward(pooled));
    }

    /// <inheritdoc />
    public Tensor ForwardFromStage(Tensor tokens, int stage)
    {
        if (stage != 3)
            throw new ArgumentOutOfRangeException(nameof(stage), stage, $"{GetName()} runs its later stages from stage 3 only.");
        var s3 = StageShapes()[2];
        var map = tokens.transpose(1, 2).reshape(tokens.shape[0], s3.Channels, s3.Height, s3.Width);
        return layer4.forward(map).flatten(2).transpose(1, 2);
    }

    /// <inheritdoc />
    public override IReadOnlyList<StageShape> StageShapes()
    {
        var size = FeatureMapSize.After(Options.ImageSize, kernel: 7, stride: 2, padding: 3);
        size = FeatureMapSize.After(size, kernel: 3, stride: 2, padding: 1);
        var shapes = new List<StageShape>(4);
        for (var stage = 0; stage < 4; stage++)
        {
            if (stage > 0)
                size = FeatureMapSize.After(size, kernel: 3, stride: 2, padding: 1);
            shapes.Add(new StageShape(_config.Channels[stage] * ResNetBlock.Expansion(_config.Block), size, size));
        }
        return shapes;
    }

    /// <summary>timm's <c>init_weights</c>: He-normal (fan-out) convolutions, BN at 1 and 0, and the last BN of every
    /// residual branch at 0 so that blocks start as identities; <c>fc</c> keeps PyTorch's default.</summary>
    void InitializeLikeTimm()
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in named_modules())
        {
            if (module is Conv2d conv)
                nn.init.kaiming_normal_(conv.weight, mode: nn.init.FanInOut.FanOut, nonlinearity: nn.init.NonlinearityType.ReLU);
            else if (module is ResNetBlock block)
                nn.init.zeros_(block.LastNorm.weight);
        }
    }

    internal static IEnumerable<(string Name, Func<ModelOptions, VisionModel> Create)> Configurations()
    {
        yield return ("resnet18", o => new ResNet("resnet18", new Config(ResNetBlockKind.Basic, [2, 2, 2, 2], [64, 128, 256, 512]), o));
        yield return ("resnet50", o => new ResNet("resnet50", new Config(ResNetBlockKind.Bottleneck, [3, 4, 6, 3], [64, 128, 256, 512]), o));
        // Tiny configurations for tests on CPU, each one timm can build too:
        // timm.models.resnet.ResNet(BasicBlock, (1, 1, 1, 1), channels=(8, 16, 24, 32)).
        yield return ("resnet_pico", o => new ResNet("resnet_pico", new Config(ResNetBlockKind.Basic, [1, 1, 1, 1], [8, 16, 24, 32]), o));
        // timm.models.resnet.ResNet(Bottleneck, (1, 1, 1, 1), channels=(4, 8, 12, 16)).
        yield return ("resnet_pico_bottleneck", o => new ResNet("resnet_pico_bottleneck", new Config(ResNetBlockKind.Bottleneck, [1, 1, 1, 1], [4, 8, 12, 16]), o));
    }
}
