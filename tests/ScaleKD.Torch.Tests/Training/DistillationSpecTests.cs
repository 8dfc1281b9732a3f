using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Optimization;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>The one settings model: its defaults and presets, the recipe that brings its own schedule, and the run that
/// trains a teacher.</summary>
[Trait("Category", "Optimization")]
public sealed class DistillationSpecTests
{
    [Fact]
    public void TheScheduleFollowsTheOptimizerInUseNotTheStudentFamily()
    {
        // An AdamW recipe for a ResNet student (what --lr asks for) warms up as AdamW does, from peak·1e-3 over 20/300
        // of the run, and ends at 1e-5; the ResNet's official LAMB recipe warms up from peak·0.25 over 5/300 and ends at 0.
        var spec = DistillationSpec.Default with { Student = "resnet18", Epochs = 30, Optimizer = OptimizerRecipe.AdamW(5e-3) };
        var adamW = (WarmupCosineSchedule)spec.OptimizerFor(ModelFamily.ResNet).CreateSchedule(stepsPerEpoch: 100, spec.Epochs);
        Assert.Equal((200L, 5e-3 * 1e-3, 1e-5), (adamW.WarmupSteps, adamW.WarmupInitialLearningRate, adamW.MinLearningRate));
        var lamb = (WarmupCosineSchedule)(spec with { Optimizer = null }).OptimizerFor(ModelFamily.ResNet).CreateSchedule(100, spec.Epochs);
        Assert.Equal(OptimizerKind.Lamb, (spec with { Optimizer = null }).OptimizerFor(ModelFamily.ResNet).Kind);
        Assert.Equal((50L, 5e-3 * 64 / 2048 * 0.25, 0.0), (lamb.WarmupSteps, lamb.WarmupInitialLearningRate, lamb.MinLearningRate));
    }

    [Fact]
    public void AnExplicitWarmupKeepsTheOptimizersShapeAndSgdKeepsItsStepDecay()
    {
        var lamb = (WarmupCosineSchedule)(OptimizerRecipe.OfficialFor(ModelFamily.MobileNetV1, 2048) with { WarmupEpochs = 0.5 }).CreateSchedule(10, 4);
        Assert.Equal((5L, 2e-3 * 0.25, 0.0), (lamb.WarmupSteps, lamb.WarmupInitialLearningRate, lamb.MinLearningRate));
        Assert.IsType<StepDecaySchedule>(OptimizerRecipe.TraditionalSgd(256).CreateSchedule(10, 100));
        Assert.Throws<ArgumentException>(() => (OptimizerRecipe.TraditionalSgd(256) with { WarmupEpochs = 1 }).Validate());
    }

    [Fact]
    public void TheTeacherRunTrainsTheTeacherAloneWithItsOwnRecipeAndSeed()
    {
        var spec = DistillationSpec.Quick with
        {
            Seed = 4, CheckpointDirectory = "checkpoints",
            Teacher = new TeacherSpec { Model = "swin_pico_patch2_window4_32", Epochs = 3, Optimizer = OptimizerRecipe.AdamW(2e-3) },
        };
        var teacherRun = spec.ForTeacherTraining();
        Assert.Equal(DistillationMethod.None, teacherRun.Method);
        Assert.Equal(3, teacherRun.Epochs);
        Assert.Equal(OptimizerRecipe.AdamW(2e-3), teacherRun.Optimizer);
        Assert.Equal(4, teacherRun.Seed);
        Assert.Equal(Path.Combine("checkpoints", "teacher"), teacherRun.CheckpointDirectory);
        Assert.Null((spec with { CheckpointDirectory = null }).ForTeacherTraining().CheckpointDirectory);
        Assert.Equal(0, (spec with { Teacher = spec.Teacher with { Seed = 0 } }).ForTeacherTraining().Seed);
        // Without a recipe of its own the teacher takes the run's.
        Assert.Equal(spec.Optimizer, (spec with { Teacher = spec.Teacher with { Optimizer = null } }).ForTeacherTraining().Optimizer);
    }

    [Fact]
    public void TheEmaIsTheRecipesUnlessChosenOrSwitchedOff()
    {
        Assert.Equal(ModelEmaOptions.Recipe, DistillationSpec.Default.EmaFor(ModelFamily.Swin));
        Assert.Null(DistillationSpec.Default.EmaFor(ModelFamily.ResNet));
        Assert.Null((DistillationSpec.Default with { Ema = ModelEmaOptions.Off }).EmaFor(ModelFamily.VisionTransformer));
        var chosen = new ModelEmaOptions { Decay = 0.99 };
        Assert.Same(chosen, (DistillationSpec.Default with { Ema = chosen }).EmaFor(ModelFamily.ResNet));
    }

    [Fact]
    public void TheQuickPresetIsAValueOfTheSpec()
    {
        var quick = DistillationSpec.Quick;
        Assert.Equal(("resnet18_imagenet_mlnet", "mixer_pico_patch4_32", 30, 64), (quick.Teacher.Model, quick.Student, quick.Epochs, quick.ImageSize));
        Assert.Equal(64, quick.Teacher.ImageSizeFor(quick.ImageSize));
        Assert.Equal(AugmentationOptions.Light(64), quick.Augmentation);
        Assert.Equal(OptimizerRecipe.AdamW(5e-3), quick.Optimizer);
        quick.Validate();
        Assert.Throws<ArgumentOutOfRangeException>(() => (quick with { Teacher = quick.Teacher with { Epochs = 0 } }).Validate());
    }
}
