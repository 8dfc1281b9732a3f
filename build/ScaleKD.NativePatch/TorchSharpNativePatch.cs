namespace ScaleKD.NativePatch;

/// <summary>The build step: weakens libLibTorchSharp.so's GLIBCXX_3.4.32 need in an output folder, unless the system
/// libstdc++ already provides that version (GCC ≥ 13), in which case nothing is touched.</summary>
public static class TorchSharpNativePatch
{
    /// <summary>Patches the copies in <paramref name="outputDirectory"/> and returns one line per decision.</summary>
    /// <param name="systemLibStdCxx">The system libstdc++ to consult; null when none was found.</param>
    public static IReadOnlyList<string> Apply(string outputDirectory, string? systemLibStdCxx)
    {
        const string need = ElfVersionNeedPatcher.TorchSharpLibStdCxxNeed;
        if (systemLibStdCxx is not null && SystemLibStdCxx.Provides(systemLibStdCxx, need))
            return [$"{systemLibStdCxx} provides {need}; libLibTorchSharp.so in {outputDirectory} left as is."];

        // A framework-dependent build keeps natives under runtimes/<rid>/native; a RID-specific one puts them at the root.
        string[] candidates =
        [
            Path.Combine(outputDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
            Path.Combine(outputDirectory, "libLibTorchSharp.so"),
        ];
        return candidates.Where(File.Exists)
            .Select(library => $"{need} need in {library}: {ElfVersionNeedPatcher.MarkWeak(library, need)}.")
            .ToList();
    }
}
