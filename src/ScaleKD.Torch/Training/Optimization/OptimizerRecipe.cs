using System.Globalization;
using ScaleKD.Torch.Models;

namespace ScaleKD.Torch.Training.Optimization;

/// <summary>
/// The optimisation recipe of a run: what <see cref="OptimizerFactory"/> builds (the optimizer, its hyperparameters and
/// which parameters are spared weight decay) and the learning-rate schedule that goes with it
/// (<see cref="CreateSchedule"/>), so the two cannot disagree. <see cref="OfficialFor"/> gives the official ScaleKD choice
/// for a student family (docs/method.md, "Training recipe"); <see cref="Description"/> says where the values came from.
/// (Not called <c>OptimizerOptions</c>, which would clash with TorchSharp.Modules.OptimizerOptions wherever both
/// namespaces are imported.)
/// </summary>
public sealed record OptimizerRecipe
{
    /// <summary>Names spared weight decay by default, as timm models' <c>no_weight_decay()</c> and the official
    /// <c>custom_keys</c> list them: position embeddings, class/distillation tokens and Swin's relative position bias
    /// tables.</summary>
    public static IReadOnlyList<string> DefaultNoWeightDecayNames { get; } =
        ["pos_embed", "cls_token", "dist_token", "absolute_pos_embed", "relative_position_bias_table"];

    /// <summary>Which optimizer. Default AdamW.</summary>
    public OptimizerKind Kind { get; init; } = OptimizerKind.AdamW;

    /// <summary>The peak learning rate, reached at the end of warm-up; schedules scale from it. Default 1e-3.</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Weight decay of the parameters that are not spared (decoupled for AdamW, L2 for SGD, part of the
    /// update for LAMB). Default 0.05.</summary>
    public double WeightDecay { get; init; } = 0.05;

    /// <summary>SGD momentum. Default 0.9.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>SGD Nesterov momentum. Default false (the official traditional recipe).</summary>
    public bool Nesterov { get; init; }

    /// <summary>Adam/LAMB β1. Default 0.9.</summary>
    public double Beta1 { get; init; } = 0.9;

    /// <summary>Adam/LAMB β2. Default 0.999.</summary>
    public double Beta2 { get; init; } = 0.999;

    /// <summary>Adam/LAMB ε. Null: 1e-8 for AdamW, 1e-6 for LAMB (the PyTorch and timm/mmcls defaults).</summary>
    public double? Epsilon { get; init; }

    /// <summary>LAMB's own global gradient-norm clip (timm's <c>max_grad_norm</c>), applied inside every step; null
    /// turns it off. Default 1.0, as timm and the official mmcls copy.</summary>
    public double? LambMaxGradNorm { get; init; } = 1.0;

    /// <summary>Spare every parameter with at most one dimension (biases, norm scales and shifts) and every
    /// <c>*.bias</c> from weight decay, as timm's <c>param_groups_weight_decay</c> does. Default true.</summary>
    public bool ExcludeOneDimensionalFromWeightDecay { get; init; } = true;

    /// <summary>Further parameters spared weight decay, matched against the whole name and against its last dotted
    /// segment, with <c>*</c> and <c>?</c> wildcards as in fnmatch. Default <see cref="DefaultNoWeightDecayNames"/>.</summary>
    public IReadOnlyList<string> NoWeightDecayNames { get; init; } = DefaultNoWeightDecayNames;

    /// <summary>Parameters that learn at the full <see cref="LearningRate"/> when the rest learn slower (a new head on a
    /// pretrained backbone): exact names as in <c>named_parameters()</c>. Empty (the default): every parameter learns at
    /// the full rate.</summary>
    public IReadOnlyList<string> HeadNames { get; init; } = [];

    /// <summary>The learning rate of every parameter not in <see cref="HeadNames"/>, as a fraction of
    /// <see cref="LearningRate"/>, when <see cref="HeadNames"/> is not empty: fine-tuning a pretrained backbone gently
    /// while its new head learns fast. Default 1.</summary>
    public double BackboneLearningRateScale { get; init; } = 1.0;

    /// <summary>Warm-up length in epochs; null: the official share of the run for this optimizer (20 of 300 epochs for
    /// AdamW, 5 of 300 for LAMB, at least one step). SGD's traditional step decay has no warm-up.</summary>
    public double? WarmupEpochs { get; init; }

    /// <summary>Where these values came from, for logs and reports.</summary>
    public string Description { get; init; } = "custom";

    /// <summary>ε as the optimizer uses it.</summary>
    public double ResolvedEpsilon => Epsilon ?? (Kind == OptimizerKind.Lamb ? 1e-6 : 1e-8);

    /// <summary>
    /// The schedule of this optimizer over a run, per step, as the official configs pair them:
    /// <list type="bullet">
    /// <item>AdamW: linear warm-up from <see cref="LearningRate"/>·1e-3 (mmcls LinearLR <c>start_factor=1e-3</c>), then a
    /// cosine to 1e-5 (or the peak, if that is lower): <see cref="WarmupCosineSchedule"/>.</item>
    /// <item>LAMB: warm-up from <see cref="LearningRate"/>·0.25, then a cosine to 0.</item>
    /// <item>SGD: the traditional step decay, ×0.1 at 30 %, 60 % and 90 % of the run (<see cref="StepDecaySchedule.Traditional"/>).</item>
    /// </list>
    /// Without <see cref="WarmupEpochs"/>, runs of any length keep the official proportion of warm-up, so a 30-epoch run
    /// warms up for 2 epochs (AdamW) rather than two thirds of the run.
    /// </summary>
    /// <param name="stepsPerEpoch">Optimizer updates per epoch.</param>
    /// <param name="epochs">Epochs in the run.</param>
    /// <exception cref="ArgumentException">A warm-up was asked of SGD.</exception>
    public ILearningRateSchedule CreateSchedule(long stepsPerEpoch, int epochs)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stepsPerEpoch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(epochs);
        if (Kind == OptimizerKind.Sgd)
            return WarmupEpochs is null
                ? StepDecaySchedule.Traditional(stepsPerEpoch, epochs)
                : throw new ArgumentException("SGD goes with the traditional step decay, which has no warm-up; leave WarmupEpochs unset.", nameof(WarmupEpochs));
        const double officialEpochs = 300;
        var totalSteps = stepsPerEpoch * epochs;
        var warmupSteps = WarmupEpochs is { } warmup
            ? Math.Min((long)Math.Round(warmup * stepsPerEpoch), totalSteps)
            : Math.Clamp((long)Math.Round((Kind == OptimizerKind.AdamW ? 20 : 5) * epochs / officialEpochs * stepsPerEpoch), 1, totalSteps);
        return Kind == OptimizerKind.AdamW
            ? new WarmupCosineSchedule(totalSteps, warmupSteps, LearningRate * 1e-3, Math.Min(1e-5, LearningRate))
            : new WarmupCosineSchedule(totalSteps, warmupSteps, LearningRate * 0.25, 0);
    }

    /// <summary>Throws for settings outside their ranges, naming the setting.</summary>
    public void Validate()
    {
        if (!(LearningRate > 0))
            throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "The learning rate must be positive.");
        if (!(BackboneLearningRateScale > 0 && BackboneLearningRateScale <= 1))
            throw new ArgumentOutOfRangeException(nameof(BackboneLearningRateScale), BackboneLearningRateScale, "The backbone's learning-rate scale must be in (0, 1].");
        if (WarmupEpochs is < 0)
            throw new ArgumentOutOfRangeException(nameof(WarmupEpochs), WarmupEpochs, "Warm-up cannot be negative.");
        if (Kind == OptimizerKind.Sgd && WarmupEpochs is not null)
            throw new ArgumentException("SGD goes with the traditional step decay, which has no warm-up; leave WarmupEpochs unset.", nameof(WarmupEpochs));
    }

    /// <summary>A custom AdamW recipe at <paramref name="learningRate"/> with the official AdamW weight decay and
    /// grouping (and so the AdamW schedule): what a bare <c>--lr</c> asks for.</summary>
    public static OptimizerRecipe AdamW(double learningRate) => new()
    {
        Kind = OptimizerKind.AdamW,
        LearningRate = learningRate,
        WeightDecay = 0.05,
        Description = string.Create(CultureInfo.InvariantCulture, $"AdamW, lr {learningRate:G3}, wd 0.05, with the AdamW warm-up and cosine"),
    };

    /// <summary>
    /// The official advanced recipe for a student family, with the learning rate scaled linearly from the recipe's
    /// base batch to <paramref name="batchSize"/> (the global batch):
    /// <list type="bullet">
    /// <item>ViT, Swin, ConvNeXt (configs <c>imagenet_bs1024_adamw_swin</c>, DeiT): AdamW, lr 5e-4 per 512 images
    /// (1e-3 at the official 1024), wd 0.05, β (0.9, 0.999), ε 1e-8; 1-D parameters, position embeddings, tokens and
    /// relative position bias tables are spared decay. Mixer has no official student config and gets the same.</item>
    /// <item>ResNet (config <c>imagenet_bs2048_coslr_Lamb</c>): LAMB, lr 5e-3 per 2048 images, wd 0.02, ε 1e-6, its
    /// internal gradient clip at 1.0. That config sets no <c>paramwise_cfg</c>, so every parameter decays (and is
    /// trust-ratio adapted); timm's own ResNet-strikes-back recipe spares 1-D parameters instead.</item>
    /// <item>MobileNetV1: as ResNet with lr 2e-3 per 2048 images (the paper's value; the official repository only
    /// ships the traditional SGD config for it).</item>
    /// </list>
    /// The schedule comes with the recipe (<see cref="CreateSchedule"/>); gradient clipping and the EMA that go with it
    /// are <see cref="GradientClipping"/> (max norm 5 in all advanced recipes) and <see cref="ModelEmaOptions"/>.
    /// </summary>
    /// <param name="family">The student's family.</param>
    /// <param name="batchSize">The global batch size, in images.</param>
    public static OptimizerRecipe OfficialFor(ModelFamily family, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        return family switch
        {
            ModelFamily.VisionTransformer or ModelFamily.Swin or ModelFamily.ConvNeXt or ModelFamily.Mixer => new OptimizerRecipe
            {
                Kind = OptimizerKind.AdamW,
                LearningRate = 5e-4 * batchSize / 512,
                WeightDecay = 0.05,
                Description = Describe(family, "AdamW", 5e-4, 512, batchSize, "wd 0.05; 1-D params, pos_embed, tokens and relative position bias tables spared decay"
                    + (family == ModelFamily.Mixer ? "; Mixer has no official student config, so it gets the ViT recipe" : "")),
            },
            ModelFamily.ResNet or ModelFamily.MobileNetV1 => new OptimizerRecipe
            {
                Kind = OptimizerKind.Lamb,
                LearningRate = (family == ModelFamily.ResNet ? 5e-3 : 2e-3) * batchSize / 2048,
                WeightDecay = 0.02,
                ExcludeOneDimensionalFromWeightDecay = false,
                NoWeightDecayNames = [],
                Description = Describe(family, "LAMB", family == ModelFamily.ResNet ? 5e-3 : 2e-3, 2048, batchSize,
                    "wd 0.02 on every parameter (the official config sets no paramwise_cfg), internal grad-norm clip 1.0"),
            },
            _ => throw new ArgumentOutOfRangeException(nameof(family), family, "No official recipe for this family."),
        };
    }

    /// <summary>
    /// The recipe for a small data set (<see cref="DistillationSpec.SmallDataImages"/>), when none is chosen: AdamW at
    /// 2e-3, weight decay 0.05, with the AdamW warm-up and cosine, for every family. The official recipes are tuned for
    /// 300 epochs of ImageNet at batch 1024–2048; scaled linearly to a batch of 64 they give 6e-5 (AdamW) or 1.6e-4
    /// (LAMB), which leaves a short run on a few hundred images near chance (it did: 9.75 % on ten classes). The pico
    /// students and the quick preset train well at 2e-3–1e-2 with AdamW; 2e-3 is the cautious end of that range.
    /// </summary>
    public static OptimizerRecipe SmallData { get; } = AdamW(2e-3) with
    {
        Description = "small-data recipe: AdamW, lr 0.002, wd 0.05, with the AdamW warm-up and cosine (the official recipes are for ImageNet-scale runs)",
    };

    /// <summary>
    /// The official traditional recipe (config <c>imagenet_bs256</c>): SGD lr 0.1 per 256 images, momentum 0.9, no
    /// Nesterov, wd 1e-4 on every parameter; its schedule is <see cref="StepDecaySchedule.Traditional"/>.
    /// </summary>
    /// <param name="batchSize">The global batch size, in images.</param>
    public static OptimizerRecipe TraditionalSgd(int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        return new OptimizerRecipe
        {
            Kind = OptimizerKind.Sgd,
            LearningRate = 0.1 * batchSize / 256,
            WeightDecay = 1e-4,
            Momentum = 0.9,
            ExcludeOneDimensionalFromWeightDecay = false,
            NoWeightDecayNames = [],
            Description = Describe(null, "SGD momentum 0.9", 0.1, 256, batchSize, "wd 1e-4 on every parameter, step decay ×0.1 at epochs 30/60/90"),
        };
    }

    static string Describe(ModelFamily? family, string optimizer, double baseLr, int baseBatch, int batchSize, string rest) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{(family is null ? "traditional" : $"official advanced recipe for {family}")}: {optimizer}, lr {baseLr:G3}·{batchSize}/{baseBatch} = {baseLr * batchSize / baseBatch:G4}; {rest}");
}
