using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>The shape of an MLP-Mixer configuration.</summary>
/// <param name="PatchSize">Side of the square patches.</param>
/// <param name="EmbedDim">Token width (channels).</param>
/// <param name="Depth">Number of mixer blocks; a multiple of 4, as the blocks form four equal stages.</param>
/// <param name="TokenMlpRatio">Token-mixing MLP hidden width over <paramref name="EmbedDim"/>.</param>
/// <param name="ChannelMlpRatio">Channel MLP hidden width over <paramref name="EmbedDim"/>.</param>
public sealed record MixerConfig(int PatchSize, int EmbedDim, int Depth, double TokenMlpRatio = 0.5, double ChannelMlpRatio = 4.0);

/// <summary>
/// MLP-Mixer (timm <c>mlp_mixer.py</c>: patch stem, blocks of token-mixing and channel MLPs, final norm, average
/// pooling). The blocks form four equal stages whose tokens are the stage maps, the last after the final norm.
/// </summary>
public sealed class Mixer : VisionModel
{
    readonly PatchEmbed stem;
    readonly ModuleList<MixerBlock> blocks;
    readonly LayerNorm norm;
    readonly Linear head;
    readonly int _grid;
    readonly int _blocksPerStage;

    /// <summary>Builds a model with timm's initialisation.</summary>
    /// <param name="name">The configuration name, e.g. <c>mixer_b16_224</c>.</param>
    public Mixer(string name, MixerConfig config, ModelOptions options) : base(name, options)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        (_grid, _blocksPerStage) = IsotropicStages.Layout(config.Depth, config.PatchSize, options);
        var dim = config.EmbedDim;

        stem = new PatchEmbed(options.InChannels, dim, config.PatchSize);
        blocks = new ModuleList<MixerBlock>(Enumerable.Range(0, config.Depth)
            .Select(_ => new MixerBlock(dim, _grid * _grid, (int)(config.TokenMlpRatio * dim), (int)(config.ChannelMlpRatio * dim), options.DropPathRate))
            .ToArray());
        norm = nn.LayerNorm(dim, 1e-6);
        head = nn.Linear(dim, options.NumClasses);
        RegisterComponents();
        InitWeights();
    }

    /// <summary>The configuration this model was built from.</summary>
    public MixerConfig Config { get; }

    /// <inheritdoc />
    public override ModelFamily Family => ModelFamily.Mixer;

    /// <inheritdoc />
    public override int NumFeatures => Config.EmbedDim;

    /// <inheritdoc />
    public override nn.Module<Tensor, Tensor> Classifier => head;

    /// <inheritdoc />
    public override IReadOnlyList<StageShape> StageShapes() =>
        Enumerable.Repeat(new StageShape(Config.EmbedDim, _grid, _grid), 4).ToList();

    /// <inheritdoc />
    public override StageFeatures ForwardStages(Tensor images)
    {
        CheckInput(images);
        var tokens = stem.forward(images).reshape(images.shape[0], _grid * _grid, Config.EmbedDim);
        var (stages, x) = IsotropicStages.Run(tokens, _blocksPerStage, (i, t) => blocks[i].forward(t), norm.forward,
            t => TokenMaps.ToMap(t, _grid, _grid));
        var preLogits = x.mean(new long[] { 1 });
        return new StageFeatures(stages, preLogits, head.forward(preLogits));
    }

    // timm mlp_mixer._init_weights (flax=False): xavier-uniform Linears, tiny normal biases inside the MLPs, a zero
    // head and a LeCun-normal stem.
    void InitWeights()
    {
        using var _ = no_grad();
        foreach (var (name, module) in named_modules())
        {
            if (module is Linear linear)
            {
                if (name.StartsWith("head", StringComparison.Ordinal))
                {
                    nn.init.zeros_(linear.weight);
                    nn.init.zeros_(linear.bias!);
                    continue;
                }
                nn.init.xavier_uniform_(linear.weight);
                if (linear.bias is not null)
                {
                    if (name.Contains("mlp", StringComparison.Ordinal))
                        nn.init.normal_(linear.bias, 0, 1e-6);
                    else
                        nn.init.zeros_(linear.bias);
                }
            }
            else if (module is Conv2d conv)
            {
                TokenModelInit.LecunNormal(conv.weight);
                if (conv.bias is not null)
                    nn.init.zeros_(conv.bias);
            }
        }
    }

    internal static IEnumerable<(string Name, Func<ModelOptions, VisionModel> Create)> Configurations() =>
        new (string Name, MixerConfig Config)[]
        {
            ("mixer_pico_patch4_32", new(4, 32, 4)),
            ("mixer_s16_224", new(16, 512, 8)),
            ("mixer_b16_224", new(16, 768, 12)),
        }.Select(c => (c.Name, (Func<ModelOptions, VisionModel>)(o => new Mixer(c.Name, c.Config, o))));
}

/// <summary>A mixer block (timm <c>MixerBlock</c>): a token-mixing MLP across positions, then a channel MLP.</summary>
internal sealed class MixerBlock : nn.Module<Tensor, Tensor>
{
    readonly LayerNorm norm1;
    readonly TokenMlp mlp_tokens;
    readonly DropPath drop_path;
    readonly LayerNorm norm2;
    readonly TokenMlp mlp_channels;

    public MixerBlock(int dim, int tokens, int tokensHidden, int channelsHidden, double dropPath) : base(nameof(MixerBlock))
    {
        norm1 = nn.LayerNorm(dim, 1e-6);
        mlp_tokens = new TokenMlp(tokens, tokensHidden);
        drop_path = new DropPath(dropPath);
        norm2 = nn.LayerNorm(dim, 1e-6);
        mlp_channels = new TokenMlp(dim, channelsHidden);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        x = x + drop_path.forward(mlp_tokens.forward(norm1.forward(x).transpose(1, 2)).transpose(1, 2));
        return x + drop_path.forward(mlp_channels.forward(norm2.forward(x)));
    }
}
