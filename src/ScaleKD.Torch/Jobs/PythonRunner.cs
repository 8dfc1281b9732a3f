using ScaleKD.Torch.IO;
using ScaleKD.Torch.Models;

namespace ScaleKD.Torch.Jobs;

/// <summary>The Python side of a job: <c>train.py</c> and the <c>scalekd</c> package, kept in the repository's
/// <c>python/</c> folder (the one implementation that tests/reference also writes its parity fixtures from) and shipped
/// beside the tool as <c>python/</c>.</summary>
public static class PythonRunner
{
    /// <summary>The script a job folder runs.</summary>
    public const string Script = "train.py";

    /// <summary>The models the package builds from its own definitions (python/scalekd/models/__init__.py, NAMES; a
    /// test holds the two lists equal).</summary>
    public static IReadOnlySet<string> Models { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "convnext_test_pico", "convnext_tiny", "mixer_b16_224", "mixer_pico_patch4_32", "mixer_s16_224", "mobilenetv1_100",
        "mobilenetv1_pico", "resnet18", "resnet50", "resnet_pico", "resnet_pico_bottleneck", "swin_base_patch4_window7_224",
        "swin_large_patch4_window7_224", "swin_pico_patch2_window4_32", "swin_small_patch4_window7_224", "swin_tiny_patch4_window7_224",
        "vit_base_patch16_224", "vit_large_patch16_224", "vit_pico_patch4_32", "vit_small_patch16_224", "vit_tiny_patch16_224",
    };

    /// <summary>The models imported from ONNX that the package builds from their ONNX file, which the job carries
    /// (python/scalekd/models/__init__.py, ONNX_NAMES; held equal by the same test). Teachers only: a student's graph
    /// would have to be written back as ONNX after training.</summary>
    public static IReadOnlySet<string> OnnxModels { get; } = new HashSet<string>(StringComparer.Ordinal) { MlNetResNet18.Name };

    /// <summary>Where the tool's copy lives: <c>python/</c> beside the running assembly.</summary>
    public static string ShippedDirectory => Path.Combine(AppContext.BaseDirectory, "python");

    /// <summary>Copies <c>train.py</c> and the <c>scalekd</c> package (no byte-code caches) into <paramref name="folder"/>.</summary>
    /// <exception cref="DirectoryNotFoundException">The source is not a Python runner folder.</exception>
    public static void CopyInto(string pythonDirectory, string folder)
    {
        var package = Path.Combine(pythonDirectory, "scalekd");
        if (!File.Exists(Path.Combine(pythonDirectory, Script)) || !Directory.Exists(package))
            throw new DirectoryNotFoundException($"'{pythonDirectory}' holds no {Script} and scalekd/ package; the tool ships them as python/ beside itself.");
        Copy(Path.Combine(pythonDirectory, Script), Path.Combine(folder, Script));
        foreach (var file in Directory.EnumerateFiles(package, "*.py", SearchOption.AllDirectories))
            Copy(file, Path.Combine(folder, "scalekd", Path.GetRelativePath(package, file)));
    }

    static void Copy(string source, string target)
    {
        var bytes = File.ReadAllBytes(source);
        AtomicFile.Write(target, stream => stream.Write(bytes));
    }
}
