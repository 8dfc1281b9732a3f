using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Optimization;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>Defaults that work on small data: the small-data recipe and a step budget, never the ImageNet recipe
/// scaled down to a learning rate that leaves the student at chance.</summary>
[Trait("Category", "Training")]
public sealed class SmallDataDefaultsTests
{
    [Fact]
    public void ASmallSetGetsTheSmallDataRecipeAndEnoughSteps()
    {
        var spec = new DistillationSpec { BatchSize = 64, Epochs = 10 };
        var run = spec.ForData(500, out var change);
        Assert.Same(OptimizerRecipe.SmallData, run.Optimizer);
        Assert.Equal(2e-3, run.OptimizerFor(ModelFamily.ResNet).LearningRate);
        // 500 images at batch 64 are 7 steps an epoch: 600 steps need 86 epochs.
        Assert.Equal(86, run.Epochs);
        Assert.Contains("86 epochs instead of 10", change);
        Assert.Contains("small-data recipe", change);
    }

    [Fact]
    public void ALargeSetOrAChosenRecipeKeepsTheSettings()
    {
        var spec = new DistillationSpec { BatchSize = 64, Epochs = 10 };
        Assert.Same(spec, spec.ForData(60_000, out var none));
        Assert.Null(none);
        Assert.Equal(OptimizerRecipe.OfficialFor(ModelFamily.ResNet, 64), spec.ForData(60_000, out _).OptimizerFor(ModelFamily.ResNet));
        var tuned = spec with { Optimizer = OptimizerRecipe.AdamW(5e-3) };
        Assert.Same(tuned, tuned.ForData(500, out var kept));
        Assert.Null(kept);
        var noBudget = spec with { MinimumSteps = 0 };
        Assert.Equal(10, noBudget.ForData(500, out _).Epochs);
    }
}
