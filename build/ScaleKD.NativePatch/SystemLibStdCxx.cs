using System.Text;

namespace ScaleKD.NativePatch;

/// <summary>Finds out whether the system's libstdc++ already provides a symbol version (GCC ≥ 13 provides 3.4.32).</summary>
public static class SystemLibStdCxx
{
    static readonly string[] CandidatePaths =
    [
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6",
        "/usr/lib/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
    ];

    /// <summary>The first libstdc++ found in the usual system locations, or null.</summary>
    public static string? Locate() => CandidatePaths.FirstOrDefault(File.Exists);

    /// <summary>True when <paramref name="libraryPath"/> defines <paramref name="versionName"/>. Version definitions
    /// live in .dynstr as NUL-terminated names, so a search for the terminated name is exact enough.</summary>
    public static bool Provides(string libraryPath, string versionName)
    {
        var needle = Encoding.ASCII.GetBytes(versionName + "\0");
        return File.ReadAllBytes(libraryPath).AsSpan().IndexOf(needle) >= 0;
    }
}
