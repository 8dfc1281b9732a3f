using ScaleKD.Torch.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// The ScaleKD objective for one teacher/student pair (paper Sec. 3; docs/method.md, "One step"):
/// cross-entropy and logit KD, plus for each view (spatial, frequency) a stage-3 projector whose output runs through
/// the teacher's stage 4 (TPP, the proxy loss) and a stage-4 projector queried by that proxy output (the direct loss).
/// Its parameters are the projectors'; the teacher and the student are used, not owned.
/// </summary>
public sealed class ScaleKDObjective : DistillationObjective
{
    const string Spatial = "spatial";
    const string Frequency = "frequency";

    readonly ProjectorSet projectors;
    readonly VisionModel _teacher;
    readonly VisionModel _student;
    readonly TeacherParameterPerception? _tpp;
    readonly DualViewFeatureLoss _featureLoss;
    readonly StageShape _teacherStage4;
    readonly string[] _views;
    readonly bool _fuseProxyViews;

    /// <summary>Builds the projectors for the pair and freezes the teacher.</summary>
    /// <remarks>The teacher may run at its own image size (its input is resized, <see cref="FrozenTeacher.AtTeacherSize"/>);
    /// the projectors map the student's grids onto the teacher's.</remarks>
    /// <exception cref="ArgumentException">The pair does not fit: TPP needs a teacher that can run its last stage alone
    /// (<see cref="ITeacherModel"/>); heads must divide the teacher's channels.</exception>
    public ScaleKDObjective(VisionModel teacher, VisionModel student, ObjectiveOptions? options = null) : base(nameof(ScaleKDObjective))
    {
        options ??= new ObjectiveOptions();
        if (teacher.Options.NumClasses != student.Options.NumClasses)
            throw new ArgumentException($"Teacher and student must have the same classes for logit KD; got {teacher.Options.NumClasses} and {student.Options.NumClasses}.", nameof(student));
        _teacher = teacher;
        _student = student;
        FrozenTeacher.Freeze(teacher);
        var teacherStages = teacher.StageShapes();
        var studentStages = student.StageShapes();
        _teacherStage4 = teacherStages[3];
        Settings = Resolve(options, teacher, student, teacherStages);
        CheckStudentGrids(student, studentStages, Settings);
        _featureLoss = new DualViewFeatureLoss(Settings.SpatialWeight, Settings.FrequencyWeight, Settings.DcRemoval);
        _tpp = Settings.UseTeacherParameterPerception ? new TeacherParameterPerception(teacher) : null;
        _views = Settings.UseFrequencyView ? [Spatial, Frequency] : [Spatial];
        _fuseProxyViews = options.ScaleKD.FuseProxyViews;

        projectors = new ProjectorSet();
        foreach (var view in _views)
        {
            if (_tpp is not null)
                projectors.Add($"s3_{view}", Projector(studentStages[2], teacherStages[2], Settings.Stage3Heads, selfLearnedQueries: true));
            projectors.Add($"s4_{view}", Projector(studentStages[3], teacherStages[3], Settings.Stage4Heads, selfLearnedQueries: _tpp is null));
        }
        register_module(nameof(projectors), projectors);
    }

    /// <summary>What was resolved for this pair.</summary>
    public ScaleKDPairSettings Settings { get; }

    /// <inheritdoc />
    public override DistillationMethod Method => DistillationMethod.ScaleKD;

    /// <summary>One step's objective. The teacher runs under no_grad except on the TPP proxy path.</summary>
    public override ObjectiveResult Compute(Tensor images, Tensor labels)
    {
        var teacher = FrozenTeacher.Forward(_teacher, images);
        var teacherStage4 = teacher.Stages[3];
        var teacherLogits = teacher.Logits;
        var student = _student.ForwardStages(images);
        var studentStage3 = student.Stages[2];
        var studentStage4 = student.Stages[3];

        var s = Settings;
        var terms = new Dictionary<string, Tensor>
        {
            ["ce"] = nn.functional.cross_entropy(student.Logits, labels, label_smoothing: s.LabelSmoothing) * (1 - s.KdWeight),
            ["kd"] = SoftTargetLoss.Compute(student.Logits, teacherLogits, s.Temperature) * s.KdWeight,
        };
        // Proxy path (TPP): stage-3 projection → the teacher's own stage 4 → compared with its real stage 4. Both
        // views' proxies share one pass through the teacher, stacked on the batch axis (the frozen teacher treats
        // images independently), so its stage 4 runs once per step instead of once per view.
        var proxies = _tpp is null ? null
            : _fuseProxyViews
                ? _tpp.Forward(cat(_views.Select(view => Project($"s3_{view}", studentStage3, null)).ToList(), 0))
                    .chunk(_views.Length, 0)
                : _views.Select(view => _tpp.Forward(Project($"s3_{view}", studentStage3, null))).ToArray();
        for (var v = 0; v < _views.Length; v++)
        {
            var view = _views[v];
            var proxy = proxies?[v];
            if (proxy is not null)
                terms[$"s3_{view}"] = ViewLoss(view, proxy, teacherStage4);
            // Direct path: stage-4 projection, queried by the proxy output of the same view (not detached).
            var direct = Project($"s4_{view}", studentStage4, proxy);
            terms[$"s4_{view}"] = ViewLoss(view, direct, teacherStage4);
        }
        var total = terms.Values.Aggregate((a, b) => a + b);
        return new ObjectiveResult(total, terms, student.Logits);
    }

    /// <summary>Runs a projector in the dtype of its own weights (bfloat16 in mixed-precision training, see
    /// <c>BFloat16Student</c>); its output keeps that dtype on the way into the teacher's stage 4.</summary>
    Tensor Project(string name, Tensor studentMap, Tensor? queries)
    {
        var projector = projectors.Get(name);
        var dtype = ((nn.Module)projector).parameters().First().dtype;
        return projector.forward(studentMap.to(dtype), queries?.to(dtype));
    }

    /// <summary>The feature losses are always computed in the teacher map's dtype (float32), whatever the projector's.</summary>
    Tensor ViewLoss(string view, Tensor tokens, Tensor teacherMap)
    {
        var map = TokenMaps.ToMap(tokens.to(teacherMap.dtype), _teacherStage4.Height, _teacherStage4.Width);
        return view == Spatial ? _featureLoss.Spatial(map, teacherMap) : _featureLoss.Frequency(map, teacherMap);
    }

    nn.Module<Tensor, Tensor?, Tensor> Projector(StageShape student, StageShape teacher, int heads, bool selfLearnedQueries) =>
        Settings.UseCrossAttentionProjector
            ? new CrossAttentionProjector(new CrossAttentionProjectorOptions(
                student.Channels, student.Height, student.Width, teacher.Channels, teacher.Height, teacher.Width,
                heads, Settings.SoftmaxScale, Settings.Stem, selfLearnedQueries))
            : new PoolingProjector(student.Channels, teacher.Channels, teacher.Height, teacher.Width);

    /// <summary>A student map of a single position gives its projector a single key: the projected map is the same
    /// token everywhere, whose frequency view is zero (no signal, and a gradient that is only rounding noise).</summary>
    static void CheckStudentGrids(VisionModel student, IReadOnlyList<StageShape> studentStages, ScaleKDPairSettings settings)
    {
        if (SinglePositionStage(studentStages, settings.UseFrequencyView, settings.UseCrossAttentionProjector, settings.UseTeacherParameterPerception) is not { } stage)
            return;
        throw new ArgumentException(
            $"{student.GetName()} at {student.Options.ImageSize} px has a {studentStages[stage - 1]} stage-{stage} map: a single " +
            "position, which leaves the frequency view without signal. Use a larger image size (CNN students need 64 px or " +
            $"more for a 2×2 last stage) or switch the frequency view off ({nameof(ObjectiveOptions.ScaleKD)}.{nameof(ScaleKDOptions.UseFrequencyView)} = false).",
            nameof(student));
    }

    /// <summary>The student stage (1-based) whose map is a single position although ScaleKD's frequency view needs more,
    /// or null when the student fits: the check the objective makes, for front ends that check settings before training.
    /// Without a teacher to decide TPP's default, it checks as if TPP were on (the stricter check).</summary>
    public static int? SinglePositionStage(VisionModel student, ScaleKDOptions options)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(options);
        return SinglePositionStage(student.StageShapes(), options.UseFrequencyView, options.UseCrossAttentionProjector, options.UseTeacherParameterPerception ?? true);
    }

    static int? SinglePositionStage(IReadOnlyList<StageShape> studentStages, bool frequencyView, bool crossAttention, bool parameterPerception)
    {
        if (!frequencyView || !crossAttention)
            return null;
        var stages = parameterPerception ? new[] { 2, 3 } : [3];
        return stages.Where(i => studentStages[i].Tokens < 2).Select(i => (int?)(i + 1)).FirstOrDefault();
    }

    /// <summary>Official defaults per pair (docs/method.md, "Per-pair defaults"), overridden by whatever the options set.</summary>
    static ScaleKDPairSettings Resolve(ObjectiveOptions options, VisionModel teacher, VisionModel student, IReadOnlyList<StageShape> teacherStages)
    {
        var o = options.ScaleKD;
        // α: the official Swin setting for hierarchical teachers (Swin, and CNNs, which no official config covers:
        // their four stages end in a 7×7 map like Swin's); the BEiT/EVA setting for isotropic ViT-family teachers.
        var swinTeacher = teacher.Family is not (ModelFamily.VisionTransformer or ModelFamily.Mixer);
        var layerNormStudent = student.Family is ModelFamily.ConvNeXt or ModelFamily.Swin;
        var cnnStudent = student.Family is ModelFamily.ResNet or ModelFamily.MobileNetV1;
        int Heads(int? chosen, int channels, int cnnHeadDim)
        {
            var heads = chosen ?? (cnnStudent && channels % cnnHeadDim == 0 ? channels / cnnHeadDim : LargestDivisorUpTo(channels, 8));
            if (heads < 1 || channels % heads != 0)
                throw new ArgumentException($"{heads} attention heads do not divide the teacher's {channels} channels.");
            return heads;
        }
        return new ScaleKDPairSettings(
            SpatialWeight: o.SpatialWeight ?? (swinTeacher ? 0.08 : 0.016),
            FrequencyWeight: o.FrequencyWeight ?? (swinTeacher ? 0.06 : 0.008),
            KdWeight: options.KdWeight,
            Temperature: options.Temperature,
            LabelSmoothing: options.LabelSmoothingFor(student.Family),
            Stage3Heads: Heads(o.Stage3Heads, teacherStages[2].Channels, 48),
            Stage4Heads: Heads(o.Stage4Heads, teacherStages[3].Channels, 64),
            SoftmaxScale: o.SoftmaxScale ?? (layerNormStudent ? 1.0 : 5.0),
            Stem: o.Stem ?? (layerNormStudent ? ProjectorStem.LayerNorm : ProjectorStem.BatchNorm),
            UseCrossAttentionProjector: o.UseCrossAttentionProjector,
            UseFrequencyView: o.UseFrequencyView,
            UseTeacherParameterPerception: o.UseTeacherParameterPerception ?? TeacherParameterPerception.SuitsTeacher(teacher),
            DcRemoval: o.DcRemoval);
    }

    static int LargestDivisorUpTo(int value, int limit) =>
        Enumerable.Range(1, Math.Min(limit, value)).Last(d => value % d == 0);
}
