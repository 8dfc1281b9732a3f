using Onnx;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Onnx;
using ScaleKD.Torch.Tests.Parity;
using static ScaleKD.Torch.Tests.Onnx.TestGraph;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Onnx;

/// <summary>
/// The ONNX importer against ONNX Runtime on the same input, to 1e-4 of each output's scale (the whole-model parity
/// bound: float32 convolutions that sum up to 4,608 products in different orders): ML.NET's ImageNet ResNet-18, and
/// small graphs written here that exercise each supported operator and attribute.
/// </summary>
[Trait("Category", "Parity")]
public sealed class OnnxImportTests : TensorScopeTest, IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("scalekd-onnx-").FullName;

    public override void Dispose()
    {
        Directory.Delete(_folder, recursive: true);
        base.Dispose();
    }

    static string ResNet18Path => Path.Combine(MlNetResNet18.FindModelsFolder(), "ResNet18Onnx", "ResNet18.onnx");

    [Fact]
    public void MLNetsResNet18MatchesOnnxRuntimeAtEveryStage()
    {
        var graph = OnnxGraph.Load(ResNet18Path);
        graph.eval();
        using var model = new OnnxCnn("resnet18_onnx", graph, OnnxInputConvention.Timm, new ModelOptions(NumClasses: 10));
        Assert.Equal(["64×56×56", "128×28×28", "256×14×14", "512×7×7"], model.StageShapes().Select(s => s.ToString()));
        Assert.Equal(22, graph.Operators.Count(op => op.OpType == "Conv"));

        var images = randn(2, 3, 224, 224, generator: new Generator(1)) * 60;
        var expected = OnnxRuntimeReference.Run(ModelProto.Parser.ParseFrom(File.ReadAllBytes(ResNet18Path)), images, [.. model.StageValues]);
        using var noGrad = no_grad();
        var actual = graph.Run(images, model.StageValues);
        foreach (var value in model.StageValues.Concat(graph.OutputNames))
            ParityAssert.Relative(expected[value], actual[value], $"ResNet18.onnx {value}");
        // The model's pre-logits are the graph's own 7×7 average pool.
        var stages = model.ForwardStages(images);
        ParityAssert.Relative(expected[graph.OutputNames[0]].flatten(1), stages.PreLogits, "ResNet18.onnx pooled features");
    }

    [Fact]
    public void TheBuiltInTeacherTakesTimmImagesAndAppliesThePackagesPreprocessing()
    {
        using var model = (OnnxCnn)ModelRegistry.Create(MlNetResNet18.Name, new ModelOptions(NumClasses: 10));
        model.eval();
        // Pixels in [0, 255] as the package's two graphs take them (preprocessing, then the network)...
        var pixels = rand(2, 3, 224, 224, generator: new Generator(2)) * 255;
        var folder = MlNetResNet18.FindModelsFolder();
        var preprocessed = OnnxRuntimeReference.Run(ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(folder, "ResNetPrepOnnx", "ResNetPreprocess.onnx"))), pixels);
        var expected = OnnxRuntimeReference.Run(ModelProto.Parser.ParseFrom(File.ReadAllBytes(ResNet18Path)), preprocessed.Values.Single());
        // ...and the same pixels as every model here takes them: [0, 1], standardised with ImageNet's statistics.
        var timm = (pixels / 255 - tensor(new[] { 0.485f, 0.456f, 0.406f }).view(1, 3, 1, 1)) / tensor(new[] { 0.229f, 0.224f, 0.225f }).view(1, 3, 1, 1);
        using var noGrad = no_grad();
        ParityAssert.Relative(expected.Values.Single().flatten(1), model.ForwardStages(timm).PreLogits, "resnet18_imagenet_mlnet features");
    }

    [Fact]
    public void TheTeachersStageFourRunsAloneOnStageThreeTokens()
    {
        using var model = (OnnxCnn)ModelRegistry.Create(MlNetResNet18.Name, new ModelOptions(NumClasses: 10));
        model.eval();
        var images = randn(2, 3, 224, 224, generator: new Generator(3));
        using var noGrad = no_grad();
        var stages = model.ForwardStages(images).Stages;
        var tokens3 = stages[2].flatten(2).transpose(1, 2);
        var fromStage3 = model.ForwardFromStage(tokens3, 3);
        Assert.Equal(new long[] { 2, 49, 512 }, fromStage3.shape);
        ParityAssert.Absolute(stages[3].flatten(2).transpose(1, 2), fromStage3, "ForwardFromStage(3)", 0);
    }

    [Fact]
    public void TheBuiltInTeacherDistilsIntoAStudentAtTheStudentsOwnSize()
    {
        using var teacher = ModelRegistry.Create(MlNetResNet18.Name, new ModelOptions(NumClasses: 10));
        using var student = ModelRegistry.Create("resnet_pico", new ModelOptions(NumClasses: 10, ImageSize: 64));
        // A CNN teacher has TPP off by default (TeacherParameterPerception.SuitsTeacher); asked for, its proxy path runs
        // through the imported stage 4.
        using (var byDefault = new ScaleKDObjective(teacher, student))
            Assert.False(byDefault.Settings.UseTeacherParameterPerception);
        using var loss = new ScaleKDObjective(teacher, student, new ObjectiveOptions { ScaleKD = new() { UseTeacherParameterPerception = true } });
        // Hierarchical-teacher weights; the projectors map the student's 4×4 and 2×2 maps onto 14×14 and 7×7.
        Assert.Equal((0.08, 0.06), (loss.Settings.SpatialWeight, loss.Settings.FrequencyWeight));
        student.train();
        var result = loss.Compute(randn(2, 3, 64, 64, generator: new Generator(6)), tensor(new long[] { 1, 2 }));
        Assert.Equal(6, result.Terms.Count);
        Assert.All(result.Terms.Values, t => Assert.True(float.IsFinite(t.item<float>())));
        result.Total.backward();
        Assert.All(teacher.parameters(), p => Assert.Null(p.grad));
        Assert.True(student.parameters().First().grad!.abs().sum().item<float>() > 0);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(13)]
    public void SmallGraphsOfEverySupportedOperatorMatchOnnxRuntime(int opset)
    {
        var (g, values) = TestGraph.EveryOperator(opset);
        var graph = OnnxGraph.Load(g.Save(_folder));
        graph.eval();
        var images = randn(3, 3, 17, 17, generator: new Generator(4));
        var expected = OnnxRuntimeReference.Run(g.Model, images, values);
        using var noGrad = no_grad();
        var actual = graph.Run(images, values);
        foreach (var value in values.Concat(graph.OutputNames))
            ParityAssert.Relative(expected[value], actual[value], $"opset {opset} {value} ({graph.Operators.FirstOrDefault(o => o.Output == value)?.OpType})");
    }

    [Fact]
    public void AnUnsupportedOperatorFailsWithItsNameAndTheNode()
    {
        var g = new TestGraph(13, channels: 3, size: 8, seed: 5);
        g.Output(g.Node("Sigmoid", ["image"]));
        var error = Assert.Throws<NotSupportedException>(() => OnnxGraph.Load(g.Save(_folder)));
        Assert.Contains("Sigmoid", error.Message);
        Assert.Contains("Sigmoid_", error.Message);
        Assert.Contains("Supported: ", error.Message);
    }

    [Fact]
    public void AFileThatIsNotOnnxIsNamed()
    {
        var path = Path.Combine(_folder, "not.onnx");
        File.WriteAllText(path, "hello, not a protobuf at all \u0001\u0002");
        var error = Assert.ThrowsAny<Exception>(() => OnnxGraph.Load(path));
        Assert.Contains(path, error.Message);
    }
}
