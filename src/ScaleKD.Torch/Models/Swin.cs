using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>The shape of a Swin Transformer configuration.</summary>
/// <param name="PatchSize">Side of the square patches of the stem.</param>
/// <param name="WindowSize">Side of the attention windows; a stage whose resolution is not larger uses its
/// resolution as the window and no shift, as timm does.</param>
/// <param name="EmbedDim">Width of the first stage; each later stage doubles it.</param>
/// <param name="Depths">Blocks per stage (four stages).</param>
/// <param name="NumHeads">Attention heads per stage.</param>
/// <param name="MlpRatio">MLP hidden width over token width.</param>
public sealed record SwinConfig(int PatchSize, int WindowSize, int EmbedDim, IReadOnlyList<int> Depths, IReadOnlyList<int> NumHeads, double MlpRatio = 4.0);

/// <summary>
/// Swin Transformer (timm <c>swin_transformer.py</c>, current layout: channels-last stages, patch merging at the start
/// of stages 2–4, head <c>head.fc</c>). Window attention with a relative position bias, shifted windows masked as timm
/// does. The stage maps are the four stage outputs, the last after the final norm; as a teacher it runs its later
/// stages (each with its patch merging) from an intermediate stage's tokens.
/// </summary>
public sealed class Swin : VisionModel, ITeacherModel
{
    readonly PatchEmbed patch_embed;
    readonly ModuleList<SwinStage> layers;
    readonly LayerNorm norm;
    readonly SwinHead head;
    readonly StageShape[] _shapes;

    /// <summary>Builds a model with timm's initialisation.</summary>
    /// <param name="name">The configuration name, e.g. <c>swin_tiny_patch4_window7_224</c>.</param>
    public Swin(string name, SwinConfig config, ModelOptions options) : base(name, options)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Depths.Count != 4 || config.NumHeads.Count != 4)
            throw new ArgumentException("Swin needs depths and head counts for exactly four stages.", nameof(config));
        var grid = options.ImageSize / config.PatchSize;
        if (grid < 8 || grid % 8 != 0)
            throw new ArgumentException(
                $"Image size {options.ImageSize} gives a {grid}×{grid} patch grid; Swin needs a multiple of 8 so that every patch merging halves it exactly.",
                nameof(options));
        Config = config;

        var rates = DropPath.LinearRates(options.DropPathRate, config.Depths.Sum());
        _shapes = new StageShape[4];
        var stages = new SwinStage[4];
        var first = 0;
        for (var i = 0; i < 4; i++)
        {
            var dim = config.EmbedDim << i;
            var resolution = grid >> i;
            _shapes[i] = new StageShape(dim, resolution, resolution);
            stages[i] = new SwinStage(i == 0 ? null : dim / 2, dim, resolution, config.Depths[i], config.NumHeads[i], config.WindowSize,
                config.MlpRatio, rates[first..(first + config.Depths[i])]);
            first += config.Depths[i];
        }

        patch_embed = new PatchEmbed(options.InChannels, config.EmbedDim, config.PatchSize, normEps: 1e-5);
        layers = new ModuleList<SwinStage>(stages);
        norm = nn.LayerNorm(_shapes[3].Channels);
        head = new SwinHead(_shapes[3].Channels, options.NumClasses);
        RegisterComponents();
        TokenModelInit.VitLinears(this);
    }

    /// <summary>The configuration this model was built from.</summary>
    public SwinConfig Config { get; }

    /// <inheritdoc />
    public override ModelFamily Family => ModelFamily.Swin;

    /// <inheritdoc />
    public override int NumFeatures => _shapes[3].Channels;

    /// <inheritdoc />
    public override nn.Module<Tensor, Tensor> Classifier => head.Fc;

    /// <inheritdoc />
    public override IReadOnlyList<StageShape> StageShapes() => _shapes;

    /// <inheritdoc />
    public override StageFeatures ForwardStages(Tensor images)
    {
        CheckInput(images);
        var x = patch_embed.forward(images);
        var stages = new List<Tensor>(4);
        for (var i = 0; i < 4; i++)
        {
            x = layers[i].forward(x);
            if (i == 3)
                x = norm.forward(x);
            stages.Add(x.permute(0, 3, 1, 2));
        }
        var preLogits = x.mean(new long[] { 1, 2 });
        return new StageFeatures(stages, preLogits, head.forward(preLogits));
    }

    /// <summary>Runs the stages after <paramref name="stage"/> (patch merging and blocks) and the final norm on
    /// (N, H·W, C) tokens of that stage, returning (N, H4·W4, C4).</summary>
    public Tensor ForwardFromStage(Tensor tokens, int stage)
    {
        TokenMaps.CheckFromStage(this, tokens, stage);
        var shape = _shapes[stage - 1];
        var x = tokens.reshape(tokens.shape[0], shape.Height, shape.Width, shape.Channels);
        for (var i = stage; i < 4; i++)
            x = layers[i].forward(x);
        x = norm.forward(x);
        return x.reshape(tokens.shape[0], _shapes[3].Tokens, _shapes[3].Channels);
    }

    internal static IEnumerable<(string Name, Func<ModelOptions, VisionModel> Create)> Configurations() =>
        new (string Name, SwinConfig Config)[]
        {
            ("swin_pico_patch2_window4_32", new(2, 4, 8, [2, 2, 1, 1], [2, 2, 4, 4])),
            ("swin_tiny_patch4_window7_224", new(4, 7, 96, [2, 2, 6, 2], [3, 6, 12, 24])),
            ("swin_small_patch4_window7_224", new(4, 7, 96, [2, 2, 18, 2], [3, 6, 12, 24])),
            ("swin_base_patch4_window7_224", new(4, 7, 128, [2, 2, 18, 2], [4, 8, 16, 32])),
            ("swin_large_patch4_window7_224", new(4, 7, 192, [2, 2, 18, 2], [6, 12, 24, 48])),
        }.Select(c => (c.Name, (Func<ModelOptions, VisionModel>)(o => new Swin(c.Name, c.Config, o))));
}

/// <summary>timm's <c>ClassifierHead</c> reduced to what Swin uses: pooling happens before it, so only <c>fc</c> remains.</summary>
internal sealed class SwinHead : nn.Module<Tensor, Tensor>
{
    readonly Linear fc;

    public SwinHead(int features, int classes) : base(nameof(SwinHead))
    {
        fc = nn.Linear(features, classes);
        RegisterComponents();
    }

    public Linear Fc => fc;

    public override Tensor forward(Tensor pooled) => fc.forward(pooled);
}

/// <summary>One Swin stage (timm <c>SwinTransformerStage</c>): optional patch merging, then blocks alternating plain and
/// shifted windows. Works on channels-last maps (N, H, W, C).</summary>
internal sealed class SwinStage : nn.Module<Tensor, Tensor>
{
    readonly PatchMerging? downsample;
    readonly ModuleList<SwinBlock> blocks;

    /// <param name="inDim">Width of the previous stage, or null for the first stage (no merging).</param>
    /// <param name="resolution">This stage's (output) resolution.</param>
    public SwinStage(int? inDim, int dim, int resolution, int depth, int heads, int windowSize, double mlpRatio, double[] dropPaths)
        : base(nameof(SwinStage))
    {
        if (inDim is int d)
            downsample = new PatchMerging(d, dim);
        blocks = new ModuleList<SwinBlock>(Enumerable.Range(0, depth)
            .Select(i => new SwinBlock(dim, resolution, heads, windowSize, shifted: i % 2 == 1, mlpRatio, dropPaths[i]))
            .ToArray());
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        if (downsample is not null)
            x = downsample.forward(x);
        foreach (var block in blocks)
            x = block.forward(x);
        return x;
    }
}

/// <summary>timm <c>PatchMerging</c>: each 2×2 neighbourhood is concatenated in the order (0,0), (1,0), (0,1), (1,1)
/// (row, column), normalised, and reduced from 4C to the output width by a bias-free linear map.</summary>
internal sealed class PatchMerging : nn.Module<Tensor, Tensor>
{
    readonly LayerNorm norm;
    readonly Linear reduction;

    public PatchMerging(int dim, int outDim) : base(nameof(PatchMerging))
    {
        norm = nn.LayerNorm(4 * dim);
        reduction = nn.Linear(4 * dim, outDim, hasBias: false);
        RegisterComponents();
    }

    /// <param name="x">(N, H, W, C) with even H and W.</param>
    public override Tensor forward(Tensor x)
    {
        var (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var merged = x.reshape(n, h / 2, 2, w / 2, 2, c).permute(0, 1, 3, 4, 2, 5).reshape(n, h / 2, w / 2, 4 * c);
        return reduction.forward(norm.forward(merged));
    }
}

/// <summary>timm <c>SwinTransformerBlock</c>: (shifted-)window attention and an MLP, each pre-norm and residual.</summary>
internal sealed class SwinBlock : nn.Module<Tensor, Tensor>
{
    readonly LayerNorm norm1;
    readonly WindowAttention attn;
    readonly DropPath drop_path1;
    readonly LayerNorm norm2;
    readonly TokenMlp mlp;
    readonly DropPath drop_path2;
    readonly int _window;
    readonly int _shift;
    readonly int _padded;
    readonly DeviceConstant? _mask;

    public SwinBlock(int dim, int resolution, int heads, int windowSize, bool shifted, double mlpRatio, double dropPath) : base(nameof(SwinBlock))
    {
        // timm _calc_window_shift: a window no smaller than the map becomes the map, and then nothing is shifted.
        _window = Math.Min(windowSize, resolution);
        _shift = shifted && resolution > _window ? windowSize / 2 : 0;
        _padded = (resolution + _window - 1) / _window * _window;
        norm1 = nn.LayerNorm(dim);
        attn = new WindowAttention(dim, heads, _window);
        drop_path1 = new DropPath(dropPath);
        norm2 = nn.LayerNorm(dim);
        mlp = new TokenMlp(dim, (int)(dim * mlpRatio));
        drop_path2 = new DropPath(dropPath);
        if (_shift > 0)
            _mask = new DeviceConstant(ShiftMask(_padded, _window, _shift));
        RegisterComponents();
    }

    // The window geometry, read by the ONNX exporter (Onnx/Export/SwinExport.cs), which bakes it into constant indices.

    /// <summary>Side of this block's attention windows (the configured window, clamped to the map).</summary>
    internal int Window => _window;

    /// <summary>The cyclic shift before window attention (0 for an unshifted block).</summary>
    internal int Shift => _shift;

    /// <summary>The map side after zero padding to a multiple of <see cref="Window"/>.</summary>
    internal int PaddedSize => _padded;

    /// <summary>The (windows, N, N) additive mask of shifted-window attention: 0 within a region, −100 across the
    /// regions that the cyclic shift brought together (timm <c>get_attn_mask</c>).</summary>
    internal static Tensor ShiftMask(int padded, int window, int shift)
    {
        int Region(int i) => i < padded - window ? 0 : i < padded - shift ? 1 : 2;
        var perSide = padded / window;
        var area = window * window;
        var values = new float[perSide * perSide * area * area];
        var ids = new int[area];
        for (var wi = 0; wi < perSide; wi++)
        for (var wj = 0; wj < perSide; wj++)
        {
            for (var p = 0; p < area; p++)
                ids[p] = Region(wi * window + p / window) * 3 + Region(wj * window + p % window);
            var offset = (wi * perSide + wj) * area * area;
            for (var p = 0; p < area; p++)
            for (var q = 0; q < area; q++)
                values[offset + p * area + q] = ids[p] == ids[q] ? 0f : -100f;
        }
        return tensor(values).reshape(perSide * perSide, area, area);
    }

    /// <param name="x">(N, H, W, C).</param>
    public override Tensor forward(Tensor x)
    {
        var (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var y = norm1.forward(x);
        if (_shift > 0)
            y = y.roll(new long[] { -_shift, -_shift }, new long[] { 1, 2 });
        if (_padded != h || _padded != w)
            y = nn.functional.pad(y, new long[] { 0, 0, 0, _padded - w, 0, _padded - h });

        var perSide = _padded / _window;
        var windows = y.reshape(n, perSide, _window, perSide, _window, c).permute(0, 1, 3, 2, 4, 5)
            .reshape(n * perSide * perSide, _window * _window, c);
        var attended = attn.Forward(windows, _mask?.For(x, matchDtype: true));
        y = attended.reshape(n, perSide, perSide, _window, _window, c).permute(0, 1, 3, 2, 4, 5)
            .reshape(n, _padded, _padded, c);

        if (_padded != h || _padded != w)
            y = y[.., ..(int)h, ..(int)w];
        if (_shift > 0)
            y = y.roll(new long[] { _shift, _shift }, new long[] { 1, 2 });
        x = x + drop_path1.forward(y);

        var tokens = x.reshape(n, h * w, c);
        tokens = tokens + drop_path2.forward(mlp.forward(norm2.forward(tokens)));
        return tokens.reshape(n, h, w, c);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _mask?.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>timm <c>WindowAttention</c>: multi-head attention inside each window with a learned relative position bias
/// (<c>relative_position_bias_table</c>, indexed by a constant that is not part of the state dict), computed with
/// scaled-dot-product attention.</summary>
internal sealed class WindowAttention : nn.Module
{
    readonly Linear qkv;
    readonly Linear proj;
    readonly Parameter relative_position_bias_table;
    readonly int _heads;
    readonly int _area;
    readonly DeviceConstant _index;

    public WindowAttention(int dim, int heads, int window) : base(nameof(WindowAttention))
    {
        if (dim % heads != 0)
            throw new ArgumentException($"Width {dim} is not divisible by {heads} heads.", nameof(heads));
        _heads = heads;
        _area = window * window;
        qkv = nn.Linear(dim, 3 * dim);
        proj = nn.Linear(dim, dim);
        relative_position_bias_table = new Parameter(zeros((2 * window - 1) * (2 * window - 1), heads).DetachFromDisposeScope());
        _index = new DeviceConstant(RelativePositionIndex(window));
        RegisterComponents();
        TokenModelInit.TruncNormal(relative_position_bias_table, .02);
    }

    /// <summary>For window positions p and q (row-major), the table row of their offset (Δrow, Δcolumn).</summary>
    internal static Tensor RelativePositionIndex(int window)
    {
        var area = window * window;
        var index = new long[area * area];
        for (var p = 0; p < area; p++)
        for (var q = 0; q < area; q++)
            index[p * area + q] = (p / window - q / window + window - 1) * (2 * window - 1) + (p % window - q % window + window - 1);
        return tensor(index);
    }

    /// <param name="windows">(N·windows, area, C) window tokens.</param>
    /// <param name="mask">(windows, area, area) additive shifted-window mask, or null.</param>
    public Tensor Forward(Tensor windows, Tensor? mask)
    {
        var (b, l, c) = (windows.shape[0], windows.shape[1], windows.shape[2]);
        var parts = qkv.forward(windows).reshape(b, l, 3, _heads, c / _heads).permute(2, 0, 3, 1, 4).unbind(0);
        var bias = relative_position_bias_table.index_select(0, _index.For(windows, matchDtype: false))
            .reshape(_area, _area, _heads).permute(2, 0, 1).unsqueeze(0);
        if (mask is not null)
        {
            var count = mask.shape[0];
            bias = bias + mask.reshape(1, count, 1, _area, _area).expand(b / count, count, _heads, _area, _area).reshape(b, _heads, _area, _area);
        }
        var attended = nn.functional.scaled_dot_product_attention(parts[0], parts[1], parts[2], bias);
        return proj.forward(attended.transpose(1, 2).reshape(b, l, c));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _index.Dispose();
        base.Dispose(disposing);
    }
}
