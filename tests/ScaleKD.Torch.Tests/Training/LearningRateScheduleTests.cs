using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training.Optimization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>Schedule values at the key steps against closed-form numbers, and how they reach the parameter groups.</summary>
[Trait("Category", "Optimization")]
public sealed class LearningRateScheduleTests
{
    // T = 1000, W = 100, warm-up from 1e-6, cosine from the peak 1e-3 down to 1e-5.
    static readonly WarmupCosineSchedule Schedule = new(1000, 100, 1e-6, 1e-5);

    [Theory]
    [InlineData(0, 1e-6)]                      // start of warm-up
    [InlineData(50, 5.005e-4)]                 // halfway through warm-up: 1e-6 + (1e-3 − 1e-6)/2
    [InlineData(100, 1e-3)]                    // end of warm-up: the peak
    [InlineData(325, 8.55017856687341e-4)]      // a quarter into the cosine: 1e-5 + ½·0.99e-3·(1 + cos π/4)
    [InlineData(550, 5.05e-4)]                 // the middle of the cosine: (1e-3 + 1e-5)/2
    [InlineData(999, 1.0003015709393756e-5)]   // last step: 1e-5 + ½·0.99e-3·(1 + cos(899π/900))
    [InlineData(1000, 1e-5)]                   // the end, and after it
    [InlineData(5000, 1e-5)]
    public void WarmupCosineHitsTheClosedFormValues(long step, double expected) =>
        Assert.Equal(expected, Schedule.LearningRateAt(step, 1e-3), expected * 1e-12);

    [Fact]
    public void WarmupCosineIsMonotoneAroundThePeak()
    {
        var values = Enumerable.Range(0, 1001).Select(s => Schedule.LearningRateAt(s, 1e-3)).ToList();
        for (var s = 1; s <= 100; s++)
            Assert.True(values[s] > values[s - 1]);
        for (var s = 101; s <= 1000; s++)
            Assert.True(values[s] < values[s - 1]);
    }

    [Theory]
    [InlineData(0, 0.1)]
    [InlineData(299, 0.1)]
    [InlineData(300, 0.01)]
    [InlineData(600, 0.001)]
    [InlineData(899, 0.001)]
    [InlineData(900, 1e-4)]
    public void TraditionalStepDecayDividesByTenAtEpochs30_60_90(long step, double expected) =>
        Assert.Equal(expected, StepDecaySchedule.Traditional(stepsPerEpoch: 10).LearningRateAt(step, 0.1), expected * 1e-12);

    [Fact]
    public void OfficialSchedulesKeepTheirShareOfWarmup()
    {
        // Official recipes at their base batches: ViT/Swin lr 1e-3 at 1024, ResNet lr 5e-3 at 2048.
        WarmupCosineSchedule Official(ModelFamily family, int batch, int epochs) =>
            (WarmupCosineSchedule)OptimizerRecipe.OfficialFor(family, batch).CreateSchedule(stepsPerEpoch: 100, epochs);
        var vit = Official(ModelFamily.VisionTransformer, 1024, 300);
        Assert.Equal((30_000L, 2_000L, 1e-6, 1e-5), (vit.TotalSteps, vit.WarmupSteps, vit.WarmupInitialLearningRate, vit.MinLearningRate));
        var shortVit = Official(ModelFamily.Swin, 1024, 30);
        Assert.Equal(200, shortVit.WarmupSteps);
        var resNet = Official(ModelFamily.ResNet, 2048, 300);
        Assert.Equal((500L, 1.25e-3, 0.0), (resNet.WarmupSteps, resNet.WarmupInitialLearningRate, resNet.MinLearningRate));
        Assert.Equal([30L * 7, 60L * 7, 90L * 7], StepDecaySchedule.Traditional(7).MilestoneSteps);
    }

    [Fact]
    public void ApplySetsEveryGroupFromItsInitialRateWithItsScaleAndIsAPureFunctionOfTheStep()
    {
        TorchBackend.Initialize();
        using var scope = NewDisposeScope();
        var model = new TinyTokenNet();
        using var optimizer = OptimizerFactory.Create(model.named_parameters(), new OptimizerRecipe { LearningRate = 1e-3 });
        var groups = optimizer.ParamGroups.ToList();
        Assert.Equal(2, groups.Count);

        Schedule.Apply(optimizer, 550, [1.0, 0.5]);
        Assert.Equal([5.05e-4, 2.525e-4], groups.Select(g => Math.Round(g.LearningRate, 15)));
        Schedule.Apply(optimizer, 550, [1.0, 0.5]); // not compounded: the initial rate is the base every time
        Assert.Equal(2.525e-4, groups[1].LearningRate, 1e-18);
        Schedule.Apply(optimizer, 0);
        Assert.All(groups, g => Assert.Equal(1e-6, g.LearningRate, 1e-18));
        Assert.All(groups, g => Assert.Equal(1e-3, g.InitialLearningRate));
        Assert.Throws<ArgumentException>(() => Schedule.Apply(optimizer, 0, [1.0]));
    }

    [Fact]
    public void InvalidSchedulesAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosineSchedule(10, 11, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WarmupCosineSchedule(0, 0, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Schedule.LearningRateAt(-1, 1e-3));
    }
}
