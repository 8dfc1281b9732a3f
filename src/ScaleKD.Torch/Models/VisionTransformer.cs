using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>The shape of a ViT/DeiT configuration.</summary>
/// <param name="PatchSize">Side of the square patches.</param>
/// <param name="EmbedDim">Token width.</param>
/// <param name="Depth">Number of blocks; a multiple of 4, as the blocks form four equal stages.</param>
/// <param name="NumHeads">Attention heads per block.</param>
/// <param name="MlpRatio">MLP hidden width over token width.</param>
public sealed record VisionTransformerConfig(int PatchSize, int EmbedDim, int Depth, int NumHeads, double MlpRatio = 4.0);

/// <summary>
/// Vision Transformer / DeiT (timm <c>vision_transformer.py</c>, class token, learned position embedding, pre-norm
/// blocks, class-token pooling). The blocks form four equal stages whose patch tokens (class token excluded) are the
/// stage maps; as a teacher it runs its later blocks on patch tokens alone, as the official ScaleKD code does.
/// </summary>
public sealed class VisionTransformer : VisionModel, ITeacherModel
{
    readonly PatchEmbed patch_embed;
    readonly Parameter cls_token;
    readonly Parameter pos_embed;
    readonly ModuleList<VitBlock> blocks;
    readonly LayerNorm norm;
    readonly Linear head;
    readonly int _grid;
    readonly int _blocksPerStage;

    /// <summary>Builds a model with timm's initialisation.</summary>
    /// <param name="name">The configuration name, e.g. <c>vit_small_patch16_224</c>.</param>
    public VisionTransformer(string name, VisionTransformerConfig config, ModelOptions options) : base(name, options)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        (_grid, _blocksPerStage) = IsotropicStages.Layout(config.Depth, config.PatchSize, options);
        var dim = config.EmbedDim;

        patch_embed = new PatchEmbed(options.InChannels, dim, config.PatchSize);
        cls_token = new Parameter(zeros(1, 1, dim).DetachFromDisposeScope());
        pos_embed = new Parameter(zeros(1, 1 + _grid * _grid, dim).DetachFromDisposeScope());
        var rates = DropPath.LinearRates(options.DropPathRate, config.Depth);
        blocks = new ModuleList<VitBlock>(rates.Select(r => new VitBlock(dim, config.NumHeads, config.MlpRatio, r)).ToArray());
        norm = nn.LayerNorm(dim, 1e-6);
        head = nn.Linear(dim, options.NumClasses);
        RegisterComponents();

        TokenModelInit.TruncNormal(pos_embed, .02);
        using (no_grad())
            nn.init.normal_(cls_token, 0, 1e-6);
        TokenModelInit.VitLinears(this);
    }

    /// <summary>The configuration this model was built from.</summary>
    public VisionTransformerConfig Config { get; }

    /// <inheritdoc />
    public override ModelFamily Family => ModelFamily.VisionTransformer;

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
        var n = images.shape[0];
        var x = patch_embed.forward(images).reshape(n, _grid * _grid, Config.EmbedDim);
        x = cat(new[] { cls_token.expand(n, -1, -1), x }, 1) + pos_embed;
        var (stages, tokens) = IsotropicStages.Run(x, _blocksPerStage, (i, t) => blocks[i].forward(t), norm.forward,
            t => TokenMaps.ToMap(t[.., 1..], _grid, _grid));
        var preLogits = tokens[.., 0];
        return new StageFeatures(stages, preLogits, head.forward(preLogits));
    }

    /// <summary>Runs the blocks of the stages after <paramref name="stage"/> and the final norm on patch tokens
    /// (no class token), returning (N, H·W, D).</summary>
    public Tensor ForwardFromStage(Tensor tokens, int stage)
    {
        TokenMaps.CheckFromStage(this, tokens, stage);
        var x = tokens;
        for (var i = stage * _blocksPerStage; i < Config.Depth; i++)
            x = blocks[i].forward(x);
        return norm.forward(x);
    }

    internal static IEnumerable<(string Name, Func<ModelOptions, VisionModel> Create)> Configurations() =>
        new (string Name, VisionTransformerConfig Config)[]
        {
            ("vit_pico_patch4_32", new(4, 32, 4, 2)),
            ("vit_tiny_patch16_224", new(16, 192, 12, 3)),
            ("vit_small_patch16_224", new(16, 384, 12, 6)),
            ("vit_base_patch16_224", new(16, 768, 12, 12)),
            ("vit_large_patch16_224", new(16, 1024, 24, 16)),
        }.Select(c => (c.Name, (Func<ModelOptions, VisionModel>)(o => new VisionTransformer(c.Name, c.Config, o))));
}

/// <summary>A pre-norm transformer block (timm ViT <c>Block</c>: <c>norm1</c>, <c>attn</c>, <c>norm2</c>, <c>mlp</c>).</summary>
internal sealed class VitBlock : nn.Module<Tensor, Tensor>
{
    readonly LayerNorm norm1;
    readonly SelfAttention attn;
    readonly DropPath drop_path1;
    readonly LayerNorm norm2;
    readonly TokenMlp mlp;
    readonly DropPath drop_path2;

    public VitBlock(int dim, int heads, double mlpRatio, double dropPath) : base(nameof(VitBlock))
    {
        norm1 = nn.LayerNorm(dim, 1e-6);
        attn = new SelfAttention(dim, heads);
        drop_path1 = new DropPath(dropPath);
        norm2 = nn.LayerNorm(dim, 1e-6);
        mlp = new TokenMlp(dim, (int)(dim * mlpRatio));
        drop_path2 = new DropPath(dropPath);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        x = x + drop_path1.forward(attn.forward(norm1.forward(x)));
        return x + drop_path2.forward(mlp.forward(norm2.forward(x)));
    }
}
