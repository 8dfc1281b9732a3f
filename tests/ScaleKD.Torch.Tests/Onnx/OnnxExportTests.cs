using Microsoft.ML.OnnxRuntime;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Onnx.Export;
using ScaleKD.Torch.Tests.Parity;
using ScaleKD.Torch.Training.Augmentation;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Onnx;

/// <summary>
/// The ONNX exporter against TorchSharp: every student family's pico configuration with random weights, run by ONNX
/// Runtime both as written (no graph optimisation) and as deployed (all optimisations, fused kernels), equals the eval
/// forward pass to 1e-4 of the output's scale (the whole-model parity bound).
/// </summary>
[Trait("Category", "Parity")]
[Collection(SerialOnnxExportCollection.Name)]
public sealed class OnnxExportTests(ITestOutputHelper output) : TensorScopeTest, IDisposable
{
    static readonly ModelOptions Pico = new(NumClasses: 10, ImageSize: 32);
    readonly string _folder = Directory.CreateTempSubdirectory("scalekd-onnx-export-").FullName;

    public override void Dispose()
    {
        Directory.Delete(_folder, recursive: true);
        base.Dispose();
    }

    /// <summary>Every registered pico configuration: one per student family, two for ResNet's two block kinds.</summary>
    public static TheoryData<string> PicoStudents() => new(ModelRegistry.Names.Where(n => n.Contains("pico", StringComparison.Ordinal)));

    [Theory]
    [MemberData(nameof(PicoStudents))]
    public void PicoStudentMatchesTorchSharp(string name)
    {
        using var model = ModelRegistry.Create(name, Pico);
        Check(model, seed: 1);
    }

    /// <summary>A Swin whose maps are not multiples of its window (24, 12, 6 with window 5, padded to 25, 15, 10) and
    /// whose last map clamps the window (3): padding after the cyclic shift and the mask over the padded map. Not a
    /// registered configuration; the same one as the model's own parity test.</summary>
    [Fact]
    public void SwinWithPaddedWindowsMatchesTorchSharp()
    {
        using var model = new Swin("swin_padded_patch2_window5_48", new SwinConfig(2, 5, 4, [2, 2, 1, 1], [1, 1, 2, 2]), Pico with { ImageSize = 48 });
        Check(model, seed: 2);
    }

    [Fact]
    public void TheTeacherOnlyOnnxCnnFailsNamingTheModel()
    {
        using var teacher = ModelRegistry.Create(MlNetResNet18.Name, new ModelOptions(NumClasses: 10, ImageSize: 64));
        var error = Assert.Throws<NotSupportedException>(() => OnnxExport.ToModel(teacher));
        Assert.Contains(MlNetResNet18.Name, error.Message);
        Assert.Contains(nameof(OnnxCnn), error.Message);
    }

    [Fact]
    public void NormalisationThatDoesNotFitTheChannelsFails()
    {
        using var model = ModelRegistry.Create("resnet_pico", Pico);
        var error = Assert.Throws<ArgumentException>(() => OnnxExport.ToModel(model, new OnnxExportOptions { Mean = [0.5, 0.5], Std = [0.2, 0.2] }));
        Assert.Contains("3 input channels", error.Message);
    }

    /// <summary>A larger input with the centre crop inside the graph: equal to the eval forward pass on the crop that
    /// <see cref="ImageResize.CenterCrop"/> takes (37 − 32 = 5: an odd margin, so the offset's rounding matters), to the
    /// same 1e-4 bound; the batch axis stays dynamic.</summary>
    [Fact]
    public void ALargerInputIsCentreCroppedLikeTheEvaluation()
    {
        using var model = ModelRegistry.Create("resnet_pico", Pico);
        RandomStudent.Randomize(model, seed: 4);
        var onnx = OnnxExport.ToModel(model, new OnnxExportOptions { InputSize = 37 });
        Assert.Equal(["N", "3", "37", "37"], onnx.Graph.Input.Single().Type.TensorType.Shape.Dim.Select(d => d.DimParam is { Length: > 0 } p ? p : d.DimValue.ToString()));

        var pixels = (rand(2, 3, 37, 37, generator: new Generator(4)) * 255).round();
        Tensor expected;
        using (no_grad())
            expected = model.forward(new Normalize(Normalize.ImageNetMean, Normalize.ImageNetStd).Apply(ImageResize.CenterCrop(pixels, 32, 32) / 255f));
        var actual = OnnxRuntimeReference.RunExported(onnx, [pixels], GraphOptimizationLevel.ORT_ENABLE_ALL, OnnxExport.LogitsName).Single();
        ParityAssert.Relative(expected, actual[OnnxExport.LogitsName], "resnet_pico cropped logits");
        Assert.Equal(expected.argmax(1).data<long>().ToArray(), actual[OnnxExport.LabelName].data<long>().ToArray());
    }

    [Fact]
    public void AnInputSmallerThanTheModelFails()
    {
        using var model = ModelRegistry.Create("resnet_pico", Pico);
        var error = Assert.Throws<ArgumentException>(() => OnnxExport.ToModel(model, new OnnxExportOptions { InputSize = 31 }));
        Assert.Contains("input size 31", error.Message);
    }

    void Check(VisionModel model, int seed)
    {
        RandomStudent.Randomize(model, seed);
        var (logits, probabilities) = OnnxExportParity.Check(model, _folder, seed, GraphOptimizationLevel.ORT_DISABLE_ALL, GraphOptimizationLevel.ORT_ENABLE_ALL);
        output.WriteLine($"{model.GetName()}: largest relative error, logits {logits:E2}, probabilities {probabilities:E2}");
    }
}

/// <summary>
/// The full-size students at 224 px, exported and run by ONNX Runtime as deployed, against TorchSharp: minutes on two
/// cores, so kept out of the Parity category; each case prints how long its parts took.
/// </summary>
[Trait("Category", "OnnxFullSize")]
[Collection(SerialOnnxExportCollection.Name)]
public sealed class OnnxExportFullSizeTests(ITestOutputHelper output) : TensorScopeTest, IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("scalekd-onnx-export-").FullName;

    public override void Dispose()
    {
        Directory.Delete(_folder, recursive: true);
        base.Dispose();
    }

    [Theory]
    [InlineData("resnet50")]
    [InlineData("mobilenetv1_100")]
    [InlineData("convnext_tiny")]
    [InlineData("mixer_s16_224")]
    [InlineData("vit_small_patch16_224")]
    [InlineData("swin_tiny_patch4_window7_224")]
    public void FullSizeStudentMatchesTorchSharp(string name)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var model = ModelRegistry.Create(name, new ModelOptions(ImageSize: 224));
        RandomStudent.Randomize(model, seed: 3);
        var built = clock.Elapsed;
        var (logits, probabilities) = OnnxExportParity.Check(model, _folder, seed: 3, GraphOptimizationLevel.ORT_ENABLE_ALL);
        output.WriteLine($"{name}: largest relative error, logits {logits:E2}, probabilities {probabilities:E2}; " +
                         $"build + randomise {built.TotalSeconds:F1} s, export + runs {(clock.Elapsed - built).TotalSeconds:F1} s");
    }
}
