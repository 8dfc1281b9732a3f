using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training.Optimization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>The weight-decay grouping, the hyperparameters each group gets, and the official per-family choices.</summary>
[Trait("Category", "Optimization")]
public sealed class OptimizerFactoryTests : TensorScopeTest
{
    [Fact]
    public void BiasesNormsAndPositionEmbeddingsAreSparedWeightDecayLikeTimm()
    {
        var groups = OptimizerFactory.GroupByWeightDecay(new TinyTokenNet().named_parameters(), new OptimizerRecipe { WeightDecay = 0.05 });
        Assert.Equal(2, groups.Count);
        Assert.Equal(0, groups[0].WeightDecay);
        Assert.Equal(["pos_embed", "fc1.bias", "norm.weight", "norm.bias", "head.bias"], groups[0].Names);
        Assert.Equal(0.05, groups[1].WeightDecay);
        Assert.Equal(["fc1.weight", "head.weight"], groups[1].Names);
    }

    [Fact]
    public void WithHeadNamesTheBackboneLearnsAtItsScaleAndTheScheduleKeepsTheRatio()
    {
        var recipe = new OptimizerRecipe { WeightDecay = 0.05, LearningRate = 1e-3, HeadNames = ["head.weight", "head.bias"], BackboneLearningRateScale = 0.1 };
        var model = new TinyTokenNet();
        var groups = OptimizerFactory.GroupByWeightDecay(model.named_parameters(), recipe);
        Assert.Equal([(0.0, 0.1), (0.0, 1.0), (0.05, 0.1), (0.05, 1.0)], groups.Select(g => (g.WeightDecay, g.LearningRateScale)));
        Assert.Equal(["head.bias"], groups[1].Names);
        Assert.Equal(["head.weight"], groups[3].Names);
        using var optimizer = OptimizerFactory.Create(model.named_parameters(), recipe);
        Assert.Equal([1e-4, 1e-3, 1e-4, 1e-3], optimizer.ParamGroups.Select(g => g.InitialLearningRate).Select(r => Math.Round(r, 12)));
        // The schedule scales each group from its own initial rate (with timm's common floor, min_lr, at the end).
        recipe.CreateSchedule(100, 10).Apply(optimizer, 50);
        var rates = optimizer.ParamGroups.Select(g => g.LearningRate).ToList();
        Assert.Equal(0.1, rates[0] / rates[1], 2);
        Assert.True(rates[1] is > 0 and < 1e-3);
        Assert.Throws<ArgumentOutOfRangeException>(() => (recipe with { BackboneLearningRateScale = 0 }).Validate());
    }

    [Fact]
    public void NamesMatchWholeOrByLastSegmentWithWildcardsAndFrozenParametersAreLeftOut()
    {
        var frozen = nn.Parameter(zeros(3, 3), requires_grad: false);
        var named = new (string, Parameter)[]
        {
            ("cls_token", nn.Parameter(zeros(1, 1, 6))),
            ("layers.0.blocks.1.attn.relative_position_bias_table", nn.Parameter(zeros(9, 2))),
            ("stem.conv.weight", nn.Parameter(zeros(4, 3, 3, 3))),
            ("stages.2.downsample.reduction.weight", nn.Parameter(zeros(8, 16))),
            ("bn.running_scale", nn.Parameter(zeros(4))),
            ("frozen.weight", frozen),
        };
        var groups = OptimizerFactory.GroupByWeightDecay(named, new OptimizerRecipe
        {
            WeightDecay = 0.1,
            NoWeightDecayNames = [.. OptimizerRecipe.DefaultNoWeightDecayNames, "stages.*.downsample.*"],
        });
        Assert.Equal(["cls_token", "layers.0.blocks.1.attn.relative_position_bias_table", "stages.2.downsample.reduction.weight", "bn.running_scale"], groups[0].Names);
        Assert.Equal(["stem.conv.weight"], groups[1].Names);
    }

    [Fact]
    public void WithoutDecayOrWithoutExclusionThereIsOneGroup()
    {
        var model = new TinyTokenNet();
        var noDecay = OptimizerFactory.GroupByWeightDecay(model.named_parameters(), new OptimizerRecipe { WeightDecay = 0 });
        Assert.Equal(7, Assert.Single(noDecay).Names.Count);
        Assert.Equal(0, noDecay[0].WeightDecay);

        var official = OptimizerRecipe.OfficialFor(ModelFamily.ResNet, 2048);
        var all = OptimizerFactory.GroupByWeightDecay(model.named_parameters(), official);
        Assert.Equal(0.02, Assert.Single(all).WeightDecay);
    }

    [Fact]
    public void EachGroupGetsTheRecipesHyperparameters()
    {
        var model = new TinyTokenNet();
        using var adamW = OptimizerFactory.Create(model.named_parameters(), new OptimizerRecipe { LearningRate = 2e-3, WeightDecay = 0.05, Beta2 = 0.99 });
        var adamWGroups = adamW.ParamGroups.Cast<AdamW.ParamGroup>().ToList();
        Assert.Equal([0.0, 0.05], adamWGroups.Select(g => g.Options.weight_decay!.Value));
        Assert.All(adamWGroups, g => Assert.Equal((2e-3, 2e-3, 0.9, 0.99, 1e-8), (g.LearningRate, g.InitialLearningRate, g.Options.beta1!.Value, g.Options.beta2!.Value, g.Options.eps!.Value)));

        using var sgd = OptimizerFactory.Create(model.named_parameters(), OptimizerRecipe.TraditionalSgd(512));
        var sgdGroup = Assert.Single(sgd.ParamGroups.Cast<SGD.ParamGroup>());
        Assert.Equal((0.2, 0.9, 1e-4, false, 0.0), (sgdGroup.LearningRate, sgdGroup.Options.momentum!.Value, sgdGroup.Options.weight_decay!.Value, sgdGroup.Options.nesterov!.Value, sgdGroup.Options.dampening!.Value));

        using var lamb = (Lamb)OptimizerFactory.Create(model.named_parameters(), new OptimizerRecipe { Kind = OptimizerKind.Lamb, LearningRate = 5e-3, WeightDecay = 0.02 });
        var lambGroups = lamb.ParamGroups.Cast<Lamb.ParamGroup>().ToList();
        Assert.Equal([0.0, 0.02], lambGroups.Select(g => g.Options.WeightDecay!.Value));
        Assert.All(lambGroups, g => Assert.Equal(1e-6, g.Options.Eps!.Value));
        Assert.Equal(1.0, lamb.MaxGradNorm);
    }

    [Theory]
    [InlineData(OptimizerKind.AdamW)]
    [InlineData(OptimizerKind.Sgd)]
    public void FactoryOptimizersTrainExactlyLikeTorchSharpsOwnOnTheSameGroups(OptimizerKind kind)
    {
        manual_seed(5);
        var first = new TinyTokenNet();
        var second = new TinyTokenNet().LoadFromBytes(first.SaveToBytes());
        var recipe = new OptimizerRecipe { Kind = kind, LearningRate = 0.05, WeightDecay = 0.01, Nesterov = kind == OptimizerKind.Sgd };
        using var ours = OptimizerFactory.Create(first.named_parameters(), recipe);

        // The same grouping written out by hand with TorchSharp's constructors.
        var parameters = second.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Parameter[] spared = [parameters["pos_embed"], parameters["fc1.bias"], parameters["norm.weight"], parameters["norm.bias"], parameters["head.bias"]];
        Parameter[] decayed = [parameters["fc1.weight"], parameters["head.weight"]];
        using optim.Optimizer theirs = kind == OptimizerKind.AdamW
            ? optim.AdamW([new AdamW.ParamGroup(spared, 0.05, weight_decay: 0), new AdamW.ParamGroup(decayed, 0.05, weight_decay: 0.01)], 0.05)
            : optim.SGD([new SGD.ParamGroup(spared, 0.05, 0.9, weight_decay: 0, nesterov: true), new SGD.ParamGroup(decayed, 0.05, 0.9, weight_decay: 0.01, nesterov: true)], 0.05);

        var generator = new Generator(11);
        for (var step = 0; step < 4; step++)
        {
            using var stepScope = NewDisposeScope();
            var x = randn([5, 4, 6], generator: generator);
            var y = randint(0, 3, [5], generator: generator);
            foreach (var (model, optimizer) in new (TinyTokenNet, optim.Optimizer)[] { (first, ours), (second, theirs) })
            {
                optimizer.zero_grad();
                nn.functional.cross_entropy(model.forward(x), y).backward();
                optimizer.step();
            }
        }
        BitIdentical.AssertStates(second, first, $"{kind} next to TorchSharp's own optimizer");
    }

    [Theory]
    [InlineData(ModelFamily.VisionTransformer, 1024, OptimizerKind.AdamW, 1e-3, 0.05, true)]
    [InlineData(ModelFamily.Swin, 512, OptimizerKind.AdamW, 5e-4, 0.05, true)]
    [InlineData(ModelFamily.ConvNeXt, 256, OptimizerKind.AdamW, 2.5e-4, 0.05, true)]
    [InlineData(ModelFamily.Mixer, 1024, OptimizerKind.AdamW, 1e-3, 0.05, true)]
    [InlineData(ModelFamily.ResNet, 2048, OptimizerKind.Lamb, 5e-3, 0.02, false)]
    [InlineData(ModelFamily.ResNet, 256, OptimizerKind.Lamb, 6.25e-4, 0.02, false)]
    [InlineData(ModelFamily.MobileNetV1, 2048, OptimizerKind.Lamb, 2e-3, 0.02, false)]
    public void OfficialRecipesScaleTheLearningRateLinearlyWithTheBatch(ModelFamily family, int batch, OptimizerKind kind, double lr, double weightDecay, bool spares)
    {
        var recipe = OptimizerRecipe.OfficialFor(family, batch);
        Assert.Equal(kind, recipe.Kind);
        Assert.Equal(lr, recipe.LearningRate, lr * 1e-12);
        Assert.Equal(weightDecay, recipe.WeightDecay);
        Assert.Equal(spares, recipe.ExcludeOneDimensionalFromWeightDecay);
        Assert.Equal(kind == OptimizerKind.Lamb ? 1e-6 : 1e-8, recipe.ResolvedEpsilon);
        Assert.Contains(family.ToString(), recipe.Description);
    }

    [Fact]
    public void TheTraditionalRecipeIsSgdAtPointOnePer256Images()
    {
        var recipe = OptimizerRecipe.TraditionalSgd(256);
        Assert.Equal((OptimizerKind.Sgd, 0.1, 0.9, 1e-4, false), (recipe.Kind, recipe.LearningRate, recipe.Momentum, recipe.WeightDecay, recipe.Nesterov));
        Assert.Throws<ArgumentOutOfRangeException>(() => OptimizerRecipe.OfficialFor(ModelFamily.Swin, 0));
    }
}
