namespace ScaleKD.Torch.Models;

/// <summary>Creates models by their timm-style configuration name, e.g. <c>resnet50</c> or <c>swin_large_patch4_window7_224</c>.</summary>
public static class ModelRegistry
{
    // Each family lists its named configurations (timm's registry of model names).
    static readonly IReadOnlyDictionary<string, Func<ModelOptions, VisionModel>> Factories =
        Enumerable.Empty<(string Name, Func<ModelOptions, VisionModel> Create)>()
            .Concat(ResNet.Configurations())
            .Concat(MobileNetV1.Configurations())
            .Concat(ConvNeXt.Configurations())
            .Concat(VisionTransformer.Configurations())
            .Concat(Swin.Configurations())
            .Concat(Mixer.Configurations())
            .Concat(MlNetResNet18.Configurations())
            .ToDictionary(c => c.Name, c => c.Create, StringComparer.Ordinal);

    /// <summary>Every registered name, sorted.</summary>
    public static IReadOnlyList<string> Names { get; } = Factories.Keys.Order(StringComparer.Ordinal).ToList();

    /// <summary>Builds the named model.</summary>
    /// <exception cref="ArgumentException">The name is not registered; the message lists the known names.</exception>
    public static VisionModel Create(string name, ModelOptions? options = null) =>
        Factories.TryGetValue(name, out var factory)
            ? factory(options ?? new ModelOptions())
            : throw new ArgumentException($"Unknown model '{name}'. Known models: {string.Join(", ", Names)}.", nameof(name));

    /// <summary>Whether the named model comes with pretrained weights of its own (loaded when it is created), so a
    /// teacher of this name is probed, not trained from scratch.</summary>
    public static bool IsBuiltInPretrained(string name) => name == MlNetResNet18.Name;

    /// <summary>The image size a teacher of this name runs at beside a student of <paramref name="studentImageSize"/> px:
    /// the student's, except that a built-in pretrained network needs a multiple of 16 from 64, so it is raised to the
    /// next one (a 28 px Fashion-MNIST image is seen at 64 px, the cheapest size it recognises things at).</summary>
    public static int TeacherImageSize(string name, int studentImageSize) =>
        IsBuiltInPretrained(name) ? Math.Max(64, (studentImageSize + 15) / 16 * 16) : studentImageSize;

    /// <summary>Builds the named model with initial weights drawn from <paramref name="seed"/>, not from whatever the
    /// process's random generator last did, so that a fit repeats.</summary>
    public static VisionModel Create(string name, ModelOptions options, int seed)
    {
        TorchSharp.torch.manual_seed(seed);
        return Create(name, options);
    }
}
