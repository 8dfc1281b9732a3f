using ScaleKD.Torch.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// Cross Attention Projector (CAP, paper Sec. 3.1; docs/method.md, "Cross Attention Projector"): turns a student feature map (N, Cs, Hs, Ws) into a token
/// sequence (N, Hq·Wq, Ct) shaped like the teacher's, by one cross-attention layer whose queries are self-learned or
/// handed in by Teacher Parameter Perception.
/// </summary>
/// <remarks>One layer, no residual around the attention, no pre-norm; then out_ln + FFN(out_ln), as the official
/// code's mmcv FFN adds its (normalised) input. Softmax uses head_dim^-0.5 · softmax_scale; SDPA has no scale
/// argument, so the queries are multiplied by softmax_scale first.</remarks>
public sealed class CrossAttentionProjector : nn.Module<Tensor, Tensor?, Tensor>
{
    readonly Sequential proj_student;
    readonly Parameter pos_embed;
    readonly Embedding? query;
    readonly Sequential proj_pos;
    readonly ProjectorAttention attn;
    readonly LayerNorm norm;
    readonly ProjectorFeedForward ffn;

    /// <summary>Builds the projector; the positional embedding starts trunc-normal with std 0.02.</summary>
    public CrossAttentionProjector(CrossAttentionProjectorOptions options) : base(nameof(CrossAttentionProjector))
    {
        if (options.TeacherChannels % options.Heads != 0)
            throw new ArgumentException($"Heads ({options.Heads}) must divide the teacher channels ({options.TeacherChannels}).", nameof(options));
        Options = options;
        var cs = options.StudentChannels;
        var ct = options.TeacherChannels;
        nn.Module<Tensor, Tensor> stemNorm = options.Stem == ProjectorStem.BatchNorm ? nn.BatchNorm2d(cs) : new LayerNorm2d(cs);
        proj_student = nn.Sequential(nn.Conv2d(cs, cs, 3, stride: 1, padding: 1), stemNorm, nn.ReLU());
        pos_embed = nn.Parameter(zeros(1, cs, options.StudentHeight, options.StudentWidth));
        TruncatedNormal.Fill(pos_embed, 0.02);
        query = options.SelfLearnedQueries ? nn.Embedding(options.QueryCount, ct) : null;
        proj_pos = nn.Sequential(nn.Conv2d(ct, ct, 1), nn.ReLU());
        attn = new ProjectorAttention(ct, cs, options.Heads, options.SoftmaxScale);
        norm = nn.LayerNorm(ct);
        ffn = new ProjectorFeedForward(ct);
        RegisterComponents();
    }

    /// <summary>The shapes and settings this projector was built with.</summary>
    public CrossAttentionProjectorOptions Options { get; }

    /// <param name="studentMap">(N, Cs, Hs, Ws).</param>
    /// <param name="queries">(N, Hq·Wq, Ct) for input-dependent queries; null for self-learned ones.</param>
    /// <returns>(N, Hq·Wq, Ct).</returns>
    public override Tensor forward(Tensor studentMap, Tensor? queries)
    {
        var o = Options;
        long n = studentMap.shape[0];
        if (!studentMap.shape.SequenceEqual([n, o.StudentChannels, o.StudentHeight, o.StudentWidth]))
            throw new ArgumentException(
                $"The projector expects a student map (N, {o.StudentChannels}, {o.StudentHeight}, {o.StudentWidth}); got ({string.Join(", ", studentMap.shape)}).",
                nameof(studentMap));
        Tensor queryMap;
        if (queries is null)
        {
            if (query is null)
                throw new ArgumentNullException(nameof(queries), "This projector takes input-dependent queries; none were given.");
            queryMap = query.weight!.view(1, o.QueryHeight, o.QueryWidth, o.TeacherChannels).permute(0, 3, 1, 2).expand(n, -1, -1, -1);
        }
        else
        {
            if (!queries.shape.SequenceEqual([n, o.QueryCount, o.TeacherChannels]))
                throw new ArgumentException(
                    $"The projector expects queries (N, {o.QueryCount}, {o.TeacherChannels}); got ({string.Join(", ", queries.shape)}).", nameof(queries));
            queryMap = queries.permute(0, 2, 1).reshape(n, o.TeacherChannels, o.QueryHeight, o.QueryWidth);
        }
        var keysValues = (proj_student.forward(studentMap) + pos_embed).flatten(2).transpose(1, 2);
        var queryTokens = proj_pos.forward(queryMap).flatten(2).transpose(1, 2);
        return ffn.forward(norm.forward(attn.forward(keysValues, queryTokens)));
    }

    /// <summary>Multi-head cross-attention: queries from the teacher side, keys and values from the student.</summary>
    sealed class ProjectorAttention : nn.Module<Tensor, Tensor, Tensor>
    {
        readonly Linear q;
        readonly Linear k;
        readonly Linear v;
        readonly Linear proj;
        readonly int _heads;
        readonly double _softmaxScale;

        public ProjectorAttention(long teacherChannels, long studentChannels, int heads, double softmaxScale) : base(nameof(ProjectorAttention))
        {
            q = nn.Linear(teacherChannels, teacherChannels);
            k = nn.Linear(studentChannels, teacherChannels);
            v = nn.Linear(studentChannels, teacherChannels);
            proj = nn.Linear(teacherChannels, teacherChannels);
            _heads = heads;
            _softmaxScale = softmaxScale;
            RegisterComponents();
        }

        public override Tensor forward(Tensor keysValues, Tensor queries)
        {
            long n = keysValues.shape[0], keyCount = keysValues.shape[1], queryCount = queries.shape[1];
            var channels = q.out_features;
            var headDim = channels / _heads;
            var qh = q.forward(queries).reshape(n, queryCount, _heads, headDim).transpose(1, 2) * _softmaxScale;
            var kh = k.forward(keysValues).reshape(n, keyCount, _heads, headDim).transpose(1, 2);
            var vh = v.forward(keysValues).reshape(n, keyCount, _heads, headDim).transpose(1, 2);
            // The attention runs in float32 whatever the weights' dtype, as autocast runs softmax: with bfloat16 weights
            // (mixed-precision training) a bfloat16 softmax over the scaled scores costs the student accuracy.
            var dtype = qh.dtype;
            var attended = dtype == ScalarType.BFloat16 || dtype == ScalarType.Float16
                ? nn.functional.scaled_dot_product_attention(qh.to(ScalarType.Float32), kh.to(ScalarType.Float32), vh.to(ScalarType.Float32)).to(dtype)
                : nn.functional.scaled_dot_product_attention(qh, kh, vh);
            return proj.forward(attended.transpose(1, 2).reshape(n, queryCount, channels));
        }
    }

    /// <summary>Linear(C→4C) → ReLU → Linear(4C→C), plus its input (the mmcv FFN identity).</summary>
    sealed class ProjectorFeedForward : nn.Module<Tensor, Tensor>
    {
        readonly Linear fc1;
        readonly Linear fc2;

        public ProjectorFeedForward(long channels) : base(nameof(ProjectorFeedForward))
        {
            fc1 = nn.Linear(channels, channels * 4);
            fc2 = nn.Linear(channels * 4, channels);
            RegisterComponents();
        }

        public override Tensor forward(Tensor input) => input + fc2.forward(nn.functional.relu(fc1.forward(input)));
    }
}
