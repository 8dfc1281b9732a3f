using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>A student that starts from pretrained weights: the classifier for other classes replaced and said so,
/// every other mismatch an error that names the keys.</summary>
[Trait("Category", "Training")]
public sealed class StudentFactoryTests : TensorScopeTest
{
    readonly string _work = Directory.CreateTempSubdirectory("scalekd-student-").FullName;

    [Fact]
    public void PretrainedWeightsLoadAndAHeadForOtherClassesStartsNew()
    {
        var weights = Path.Combine(_work, "imagenet-like.safetensors");
        using var pretrained = ModelRegistry.Create("resnet_pico", new ModelOptions(NumClasses: 1000, ImageSize: 64));
        SafetensorsWeights.Save(pretrained, weights);
        var lines = new List<string>();
        var spec = new DistillationSpec { Student = "resnet_pico", ImageSize = 64, StudentWeightsPath = weights };
        using var student = StudentFactory.Create(spec, classCount: 10, new Progress(lines.Add));

        Assert.Equal(10, student.Options.NumClasses);
        var loaded = student.state_dict();
        foreach (var (name, tensor) in pretrained.state_dict().Where(p => !p.Key.StartsWith("fc.", StringComparison.Ordinal)))
            Assert.True(tensor.equal(loaded[name]).all().item<bool>(), name);
        Assert.Contains(lines, l => l.Contains("fc.weight") && l.Contains("starts new"));
    }

    [Fact]
    public void AnyOtherMismatchNamesTheKeys()
    {
        var weights = Path.Combine(_work, "other.safetensors");
        using (var other = ModelRegistry.Create("resnet_pico_bottleneck", new ModelOptions(NumClasses: 10, ImageSize: 64)))
            SafetensorsWeights.Save(other, weights);
        var spec = new DistillationSpec { Student = "resnet_pico", ImageSize = 64, StudentWeightsPath = weights };
        var error = Assert.Throws<InvalidDataException>(() => StudentFactory.Create(spec, classCount: 10));
        Assert.Contains("conv3", error.Message);
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
