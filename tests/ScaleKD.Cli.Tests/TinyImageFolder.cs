using ScaleKD.Tests.Shared;

namespace ScaleKD.Cli.Tests;

/// <summary>
/// A small image folder (one sub-folder per class: three Fashion-MNIST classes as PNG files) and one distill run on it
/// with tiny models, shared by the command tests; the teacher cache is private to the fixture. The one-epoch teacher is
/// no better than the student alone, so the run passes --force (the check itself is tested on its own).
/// </summary>
public sealed class TinyImageFolder : IDisposable
{
    public TinyImageFolder()
    {
        FashionClassFolders.Write(Images, draw: 300);
        Distill = Scalekd("distill", "--data", Images, "--preset", "none", "--teacher", "vit_pico_patch4_32", "--student", "resnet_pico",
            "--image-size", "64", "--epochs", "2", "--teacher-epochs", "1", "--batch", "16", "--lr", "5e-3", "--augment", "none",
            "--baseline", "--force", "--output", Output);
        // The only teacher in the cache yet: the one this run trained (other tests add theirs).
        Teacher = Directory.EnumerateFiles(Path.Combine(Root, "cache", "scalekd", "teachers"), "*.safetensors").SingleOrDefault();
    }

    public string Root { get; } = Directory.CreateTempSubdirectory("scalekd-cli-").FullName;
    public string Images => Path.Combine(Root, "images");
    public string Output => Path.Combine(Root, "out");
    public string Model => Path.Combine(Output, "model.zip");
    public ChildProcess.Result Distill { get; }

    /// <summary>The teacher file the distill run trained and cached (null if it failed before).</summary>
    public string? Teacher { get; }

    /// <summary>The held-out (test) images of the folder: a fifth of each class, as distill splits it.</summary>
    public int TestImages => Directory.EnumerateDirectories(Images).Sum(d => (int)Math.Round(Directory.EnumerateFiles(d).Count() * 0.2));

    /// <summary>Runs the tool with a private cache folder (teachers are cached per user otherwise).</summary>
    public ChildProcess.Result Scalekd(params string[] arguments) =>
        ChildProcess.Run("scalekd", new Dictionary<string, string?> { ["XDG_CACHE_HOME"] = Path.Combine(Root, "cache") }, arguments);

    public void Dispose() => Directory.Delete(Root, recursive: true);
}
