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

    [Fact]
    public void TheBuiltInPretrainedTeacherIsProbedAtItsOwnSizeAndItsHeadAloneIsCached()
    {
        // ML.NET's ImageNet ResNet-18 as the default teacher: a 28 px Fashion-MNIST image, stored at the student's 32 px,
        // is seen at 64 px, the network's smallest size; 100 labels are enough for a probe far above chance (10 %).
        var spec = Spec with { ImageSize = 32, Augmentation = AugmentationOptions.Disabled(32), Teacher = new TeacherSpec { CacheDirectory = Path.Combine(_work, "cache") } };
        Assert.Equal(MlNetResNet18.Name, spec.Teacher.Model);
        var data = new TeacherData(TrainingSources.Train(100), TrainingSources.Validation(100), "fashion-mnist 100");
        var lines = new List<string>();
        using var probed = new TeacherPreparation(spec, new Progress(lines.Add)).Prepare(data);
        Assert.Equal(TeacherOrigin.PretrainedWithProbe, probed.Origin);
        Assert.Equal(64, probed.Model.Options.ImageSize);
        Assert.True(probed.ValidationTop1 > 0.4, $"probe validation top-1 {probed.ValidationTop1:P1}; 100 labels gave about 60 % when measured");
        Assert.Contains(lines, l => l.Contains("fitting a linear probe on 100 labelled images"));
        var head = new FileInfo(probed.Path!);
        Assert.True(head.Length < 64 * 1024, $"the cached head is {head.Length} bytes; only the 512×10 classifier belongs in it");

        lines.Clear();
        using var again = new TeacherPreparation(spec, new Progress(lines.Add)).Prepare(data);
        Assert.Equal((probed.Path, probed.ValidationTop1), (again.Path, again.ValidationTop1));
        Assert.Contains(lines, l => l.Contains("probed before"));
        Assert.Equal(SafetensorsWeights.ToBytes(probed.Model.Classifier), SafetensorsWeights.ToBytes(again.Model.Classifier));
        // Another teacher size is another probe.
        Assert.NotEqual(probed.Path, TeacherCache.HeadPathFor(spec with { Teacher = spec.Teacher with { ImageSize = 96 } }, "fashion-mnist 100"));
    }

    [Fact]
    public void TheBuiltInTeacherCanBeFineTunedWholeAfterItsProbeAndIsCachedWhole()
    {
        var spec = Spec with
        {
            ImageSize = 64,
            Teacher = new TeacherSpec { CacheDirectory = Path.Combine(_work, "cache"), FineTuneEpochs = 1, LinearProbe = new LinearProbeOptions(Epochs: 20) },
        };
        var data = new TeacherData(TrainingSources.Train(64), TrainingSources.Validation(64), "fashion-mnist 64 finetune");
        using var reference = ModelRegistry.Create(MlNetResNet18.Name, new ModelOptions(NumClasses: 10, ImageSize: 64));
        var lines = new List<string>();
        using var tuned = new TeacherPreparation(spec, new Progress(lines.Add)).Prepare(data);
        Assert.Equal(TeacherOrigin.FineTuned, tuned.Origin);
        Assert.Single(tuned.History);
        Assert.NotNull(tuned.ValidationTop1);
        Assert.Contains(lines, l => l.Contains("fine-tuning the whole teacher for 1 epochs on 64 labelled images at 64 px"));
        Assert.Contains(lines, l => l.Contains("teacher fine-tuned: validation top-1") && l.Contains("linear probe alone"));
        // The backbone learned too (its first convolution is no longer ImageNet's).
        var first = tuned.Model.named_parameters().First();
        Assert.False(first.parameter.allclose(reference.named_parameters().First().parameter), $"{first.name} did not change");

        lines.Clear();
        using var again = new TeacherPreparation(spec, new Progress(lines.Add)).Prepare(data);
        Assert.Equal((TeacherOrigin.Cached, tuned.Path), (again.Origin, again.Path));
        Assert.True(first.parameter.allclose(again.Model.named_parameters().First().parameter, rtol: 0, atol: 0), "the cached teacher is the fine-tuned one");
        // More fine-tuning is another teacher.
        Assert.NotEqual(tuned.Path, TeacherCache.FineTunedPathFor(spec with { Teacher = spec.Teacher with { FineTuneEpochs = 2 } }, data.CacheKey));
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
