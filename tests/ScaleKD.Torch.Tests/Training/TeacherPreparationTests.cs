using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Data;
using ScaleKD.Torch.Training.Optimization;
using ScaleKD.Torch.Weights;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>The one call that prepares a teacher: trained from scratch and cached, loaded back from the cache, imported
/// with a probed head, or loaded as saved.</summary>
[Trait("Category", "Training")]
[Collection(SerialTrainingCollection.Name)]
public sealed class TeacherPreparationTests : TensorScopeTest
{
    readonly string _work = Directory.CreateTempSubdirectory("scalekd-teachers-").FullName;

    DistillationSpec Spec => new()
    {
        ImageSize = 64,
        BatchSize = 32,
        Seed = 5,
        Teacher = new TeacherSpec { Model = "resnet_pico", Epochs = 1, CacheDirectory = Path.Combine(_work, "cache") },
        Optimizer = new OptimizerRecipe { LearningRate = 1e-2, WarmupEpochs = 0.25 },
        Augmentation = AugmentationOptions.Disabled(64),
    };

    static TeacherData Data(string? cacheKey = "fashion-mnist 64") => new(TrainingSources.Train(64), TrainingSources.Validation(32), cacheKey);

    [Fact]
    public void AFromScratchTeacherIsCachedAndTheSameSettingsOnTheSameDataLoadItBack()
    {
        var lines = new List<string>();
        using var trained = new TeacherPreparation(Spec, new Progress(lines.Add)).Prepare(Data());
        Assert.Equal(TeacherOrigin.TrainedFromScratch, trained.Origin);
        Assert.Single(trained.History);
        Assert.True(File.Exists(trained.Path));
        Assert.Contains(lines, l => l.StartsWith("no teacher weights given; training resnet_pico from scratch"));

        using var cached = new TeacherPreparation(Spec).Prepare(Data());
        Assert.Equal(TeacherOrigin.Cached, cached.Origin);
        Assert.Equal(trained.Path, cached.Path);
        Assert.Equal(SafetensorsWeights.ToBytes(trained.Model), SafetensorsWeights.ToBytes(cached.Model));

        // Other settings, or other (or unnamed) data, are another teacher.
        Assert.NotEqual(trained.Path, TeacherCache.PathFor(Spec with { Seed = 6 }, "fashion-mnist 64"));
        Assert.NotEqual(trained.Path, TeacherCache.PathFor(Spec, "fashion-mnist 128"));
        Assert.Null(TeacherCache.PathFor(Spec, null));
    }

    [Fact]
    public void PretrainedWeightsForOtherClassesGetAProbedHeadAndASavedTeacherLoadsAsItIs()
    {
        var pretrained = Path.Combine(_work, "imagenet-like.safetensors");
        SafetensorsWeights.Save(ModelRegistry.Create("resnet_pico", new ModelOptions(NumClasses: 1000, ImageSize: 64)), pretrained);
        var spec = Spec with { Teacher = Spec.Teacher with { WeightsPath = pretrained, LinearProbe = new LinearProbeOptions(Epochs: 1) } };
        using var probed = new TeacherPreparation(spec).Prepare(Data(cacheKey: null));
        Assert.Equal(TeacherOrigin.PretrainedWithProbe, probed.Origin);
        Assert.NotNull(probed.ValidationTop1);
        Assert.Equal(10, probed.Model.Options.NumClasses);

        var saved = Path.Combine(_work, "saved.safetensors");
        TeacherFiles.Save(probed.Model, new TeacherDescription("resnet_pico", probed.Model.Options, FashionMnist.ClassNames, 0.5), saved);
        using var loaded = new TeacherPreparation(spec with { Teacher = spec.Teacher with { WeightsPath = saved } }).Prepare(Data());
        Assert.Equal((TeacherOrigin.Saved, 0.5), (loaded.Origin, loaded.ValidationTop1));
        var wrongSize = Assert.Throws<InvalidDataException>(() =>
            new TeacherPreparation(spec with { ImageSize = 32, Teacher = spec.Teacher with { WeightsPath = saved } }).Prepare(Data()));
        Assert.Contains("10 classes at 64 px", wrongSize.Message);
    }

    sealed class Progress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }

    public override void Dispose()
    {
        Directory.Delete(_work, recursive: true);
        base.Dispose();
    }
}
