using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>
/// ConvNeXt as timm builds it (<c>convnext.py</c>, patch stem, channels-last blocks, pool → norm → fc head): a 4×4/4
/// <c>stem</c> with LayerNorm2d, four <c>stages</c> (the last three start with a 2×2/2 downsample) and <c>head</c>. The
/// stage maps are the outputs of <c>stages.0</c>–<c>stages.3</c> (strides 4, 8, 16, 32); the pre-logits are the pooled
/// features after the head's LayerNorm. Images must be at least 32 px, or the deepest map would be empty.
/// </summary>
public sealed class ConvNeXt : VisionModel
{
    /// <summary>Blocks and widths per stage of one configuration.</summary>
    internal sealed record Config(int[] Depths, int[] Dims);

    // Field names are timm's: they become the state-dict keys.
    readonly Sequential stem;
    readonly Sequential stages;
    readonly NormMlpClassifierHead head;

    readonly ConvNeXtStage[] _stages; // the same modules as stages.0–3, typed for the forward pass
    readonly Config _config;

    internal ConvNeXt(string name, Config config, ModelOptions options) : base(name, options)
    {
        _config = config;
        if (StageShapes()[3].Height < 1)
            throw new ArgumentException(
                $"{name} needs images of at least 32 px (a stride-4 stem and three 2× downsamplings); got {options.ImageSize} px.",
                nameof(options));

        var dims = config.Dims;
        stem = nn.Sequential(nn.Conv2d(options.InChannels, dims[0], 4, stride: 4), new LayerNorm2d(dims[0]));
        // timm's calculate_drop_path_rates: linear in the block index over the whole network.
        var dropPathRates = DropPath.LinearRates(options.DropPathRate, config.Depths.Sum());
        var blockIndex = 0;
        _stages = new ConvNeXtStage[4];
        for (var i = 0; i < 4; i++)
        {
            var rates = Enumerable.Range(0, config.Depths[i])
                .Select(_ => dropPathRates[blockIndex++]).ToList();
            _stages[i] = new ConvNeXtStage(dims[Math.Max(i - 1, 0)], dims[i], rates, downsamples: i > 0);
        }
        stages = nn.Sequential(_stages);
        head = new NormMlpClassifierHead(dims[3], options.NumClasses);
        RegisterComponents();
        InitializeLikeTimm();
    }

    /// <inheritdoc />
    public override ModelFamily Family => ModelFamily.ConvNeXt;

    /// <inheritdoc />
    public override int NumFeatures => _config.Dims[3];

    /// <inheritdoc />
    public override nn.Module<Tensor, Tensor> Classifier => head.Fc;

    /// <inheritdoc />
    public override StageFeatures ForwardStages(Tensor images)
    {
        CheckInput(images);
        var x = stem.forward(images);
        var maps = new List<Tensor>(4);
        foreach (var stage in _stages)
        {
            x = stage.forward(x);
            maps.Add(x);
        }
        var preLogits = head.PreLogits(x);
        return new StageFeatures(maps, preLogits, head.Fc.forward(preLogits));
    }

    /// <inheritdoc />
    public override IReadOnlyList<StageShape> StageShapes()
    {
        var size = FeatureMapSize.After(Options.ImageSize, kernel: 4, stride: 4);
        var shapes = new List<StageShape>(4);
        for (var i = 0; i < 4; i++)
        {
            if (i > 0)
                size = FeatureMapSize.After(size, kernel: 2, stride: 2);
            shapes.Add(new StageShape(_config.Dims[i], size, size));
        }
        return shapes;
    }

    /// <summary>timm's <c>_init_weights</c>: convolution and linear weights truncated-normal with std 0.02, biases 0;
    /// norms at 1 and 0 and layer scales at 1e-6 from their constructors.</summary>
    void InitializeLikeTimm()
    {
        using var noGrad = no_grad();
        foreach (var (_, module) in named_modules())
        {
            switch (module)
            {
                case Conv2d conv:
                    TruncatedNormal.Fill(conv.weight, 0.02);
                    nn.init.zeros_(conv.bias!);
                    break;
                case Linear linear:
                    TruncatedNormal.Fill(linear.weight, 0.02);
                    nn.init.zeros_(linear.bias!);
                    break;
            }
        }
    }

    internal static IEnumerable<(string Name, Func<ModelOptions, VisionModel> Create)> Configurations()
    {
        yield return ("convnext_tiny", o => new ConvNeXt("convnext_tiny", new Config([3, 3, 9, 3], [96, 192, 384, 768]), o));
        // A tiny configuration for tests on CPU, which timm builds as
        // timm.models.convnext.ConvNeXt(depths=(1, 1, 1, 1), dims=(8, 16, 24, 32)). Not named convnext_pico: timm's
        // convnext_pico is a different, larger model (depths 2-2-6-2, widths 64–512, conv MLP).
        yield return ("convnext_test_pico", o => new ConvNeXt("convnext_test_pico", new Config([1, 1, 1, 1], [8, 16, 24, 32]), o));
    }
}
