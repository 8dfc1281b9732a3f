using Onnx;
using ScaleKD.Torch.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>
/// <c>resnet18_imagenet_mlnet</c>: the ImageNet-trained ResNet-18 that ships inside ML.NET's own NuGet package
/// Microsoft.ML.DnnImageFeaturizer.ResNet18 (MIT), the one strong pretrained network available without a download.
/// It is a CNN, not the paper's vision-transformer teachers: with internet access, timm ViT or Swin weights remain the
/// better teacher.
/// </summary>
/// <remarks>
/// The graph is a CNTK export (opset 8): a 7×7/2 stem and 3×3/2 max pool, then four stages of basic blocks (the last
/// with three blocks, 22 convolutions in all), ending at the 512-d average-pooled features; it has no classifier, so
/// the <c>head</c> starts new. It takes 224×224 BGR images in [0, 255] minus the mean image of the package's
/// <c>ResNetPreprocess.onnx</c> (about 114), which <see cref="OnnxInputConvention"/> builds in.
/// </remarks>
public static class MlNetResNet18
{
    /// <summary>The registered name.</summary>
    public const string Name = "resnet18_imagenet_mlnet";

    /// <summary>The NuGet package that carries the weights.</summary>
    public const string Package = "Microsoft.ML.DnnImageFeaturizer.ResNet18";

    const string PackageVersion = "0.23.1";

    /// <summary>The package's model folder relative to an application's output (its build props copy it there).</summary>
    const string ModelsFolder = "DnnImageModels";

    internal static IEnumerable<(string Name, Func<ModelOptions, VisionModel> Create)> Configurations()
    {
        yield return (Name, Create);
    }

    /// <summary>Loads the graph and mean image and builds the model at <see cref="ModelOptions.ImageSize"/> (224 px, the
    /// size it was trained at, by default; any multiple of 16 from 64, for speed, with the mean image resized).</summary>
    /// <exception cref="FileNotFoundException">The package's files are in none of the places searched; the message lists them.</exception>
    public static OnnxCnn Create(ModelOptions options)
    {
        if (options.ImageSize % 16 != 0 || options.ImageSize < 64 || options.InChannels != 3)
            throw new ArgumentException(
                $"{Name} takes RGB images of a multiple of 16 px from 64 (it was trained at 224); got ImageSize {options.ImageSize}, " +
                $"InChannels {options.InChannels}. A student may train at its own size: the teacher's input is resized.", nameof(options));
        var folder = FindModelsFolder();
        var graph = OnnxGraph.Load(Path.Combine(folder, "ResNet18Onnx", "ResNet18.onnx"), checkInputSize: false);
        var meanImage = MeanImage(Path.Combine(folder, "ResNetPrepOnnx", "ResNetPreprocess.onnx"), options.ImageSize);
        return new OnnxCnn(Name, graph, new OnnxInputConvention(Bgr: true, PixelScale: 255, Mean: meanImage, Std: null), options);
    }

    /// <summary>The folder holding <c>ResNet18Onnx/</c> and <c>ResNetPrepOnnx/</c>: next to the application (where the
    /// package's build props copy it), else in the NuGet package cache.</summary>
    public static string FindModelsFolder()
    {
        var nugetCache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } cache
            ? cache
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string[] candidates =
        [
            Path.Combine(AppContext.BaseDirectory, ModelsFolder),
            Path.Combine(nugetCache, Package.ToLowerInvariant(), PackageVersion, "tools", ModelsFolder),
        ];
        return candidates.FirstOrDefault(c => File.Exists(Path.Combine(c, "ResNet18Onnx", "ResNet18.onnx")))
            ?? throw new FileNotFoundException(
                $"The {Name} teacher needs the NuGet package {Package} {PackageVersion}: add it to the application " +
                $"(dotnet add package {Package} --version {PackageVersion}), which copies {ModelsFolder}/ next to it. " +
                $"Looked in: {string.Join("; ", candidates)}.");
    }

    /// <summary>The package's 224×224 mean image, resized (bilinear) when the teacher runs at another size.</summary>
    static Tensor MeanImage(string path, int size)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var mean = model.Graph.Initializer.FirstOrDefault(t => t.Name == "MeanImage")
            ?? throw new InvalidDataException($"'{path}' has no MeanImage initialiser.");
        var image = OnnxTensors.ToTensor(mean).reshape(1, 3, 224, 224);
        return (size == 224 ? image : nn.functional.interpolate(image, [size, size], mode: InterpolationMode.Bilinear, align_corners: false)).reshape(3, size, size);
    }
}
