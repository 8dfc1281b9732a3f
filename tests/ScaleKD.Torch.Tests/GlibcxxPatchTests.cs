using ScaleKD.NativePatch;
using ScaleKD.Tests.Shared;

namespace ScaleKD.Torch.Tests;

/// <summary>The build step that lets TorchSharp 0.107 load on GCC 12 systems (src/ScaleKD.Torch/buildTransitive/ScaleKD.Torch.targets).</summary>
public sealed class GlibcxxPatchTests : IDisposable
{
    const string Need = ElfVersionNeedPatcher.TorchSharpLibStdCxxNeed;
    readonly string _work = Directory.CreateTempSubdirectory("scalekd-elf-").FullName;

    static string PackagedLibrary => Path.Combine(ChildProcess.MetadataValue("NuGetPackageRoot"),
        "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    string CopyOfPackagedLibrary()
    {
        var copy = Path.Combine(_work, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
        File.Copy(PackagedLibrary, copy);
        return copy;
    }

    [Fact]
    public void MarkWeakFlipsExactlyTheOneFlagBit()
    {
        var copy = CopyOfPackagedLibrary();
        var original = File.ReadAllBytes(copy);
        Assert.False(ElfVersionNeedPatcher.IsWeak(copy, Need));

        Assert.Equal(VersionNeedPatchResult.Patched, ElfVersionNeedPatcher.MarkWeak(copy, Need));

        var patched = File.ReadAllBytes(copy);
        Assert.Equal(original.Length, patched.Length);
        var changed = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToList();
        var offset = Assert.Single(changed);
        Assert.Equal(0x02, original[offset] ^ patched[offset]);
        Assert.True(ElfVersionNeedPatcher.IsWeak(copy, Need));
    }

    [Fact]
    public void SecondRunChangesNothing()
    {
        var copy = CopyOfPackagedLibrary();
        ElfVersionNeedPatcher.MarkWeak(copy, Need);
        var once = File.ReadAllBytes(copy);
        var writtenAt = File.GetLastWriteTimeUtc(copy);

        Assert.Equal(VersionNeedPatchResult.AlreadyWeak, ElfVersionNeedPatcher.MarkWeak(copy, Need));
        Assert.Equal(once, File.ReadAllBytes(copy));
        Assert.Equal(writtenAt, File.GetLastWriteTimeUtc(copy));
    }

    [Fact]
    public void AnAbsentNeedLeavesTheFileUntouched()
    {
        var copy = CopyOfPackagedLibrary();
        Assert.Equal(VersionNeedPatchResult.NoSuchNeed, ElfVersionNeedPatcher.MarkWeak(copy, "GLIBCXX_9.9.99"));
        Assert.Equal(File.ReadAllBytes(PackagedLibrary), File.ReadAllBytes(copy));
    }

    [Fact]
    public void NonElfInputIsRefusedWithTheFileName()
    {
        var bogus = Path.Combine(_work, "not-a-library.so");
        File.WriteAllText(bogus, "plain text, long enough to pass the size check of an ELF64 header.....");
        var error = Assert.Throws<InvalidDataException>(() => ElfVersionNeedPatcher.MarkWeak(bogus, Need));
        Assert.Contains(bogus, error.Message);
    }

    [Fact]
    public void BuildStepIsANoOpWhenTheSystemLibStdCxxProvidesTheVersion()
    {
        var copy = CopyOfPackagedLibrary();
        var gcc13 = Path.Combine(_work, "libstdc++.so.6");
        File.WriteAllBytes(gcc13, "\0GLIBCXX_3.4.31\0GLIBCXX_3.4.32\0"u8.ToArray());

        var lines = TorchSharpNativePatch.Apply(_work, gcc13);

        Assert.Contains("left as is", Assert.Single(lines));
        Assert.Equal(File.ReadAllBytes(PackagedLibrary), File.ReadAllBytes(copy));
    }

    [Fact]
    public void BuildStepPatchesWhenTheSystemLibStdCxxLacksTheVersion()
    {
        var copy = CopyOfPackagedLibrary();
        var gcc12 = Path.Combine(_work, "libstdc++.so.6");
        File.WriteAllBytes(gcc12, "\0GLIBCXX_3.4.30\0"u8.ToArray());

        Assert.Contains("Patched", Assert.Single(TorchSharpNativePatch.Apply(_work, gcc12)));
        Assert.True(ElfVersionNeedPatcher.IsWeak(copy, Need));
        Assert.Contains("AlreadyWeak", Assert.Single(TorchSharpNativePatch.Apply(_work, gcc12)));
    }

    [Fact]
    public void TheBuildPatchedThisTestProcessOutputCopyExactlyWhenTheSystemNeedsIt()
    {
        var outputCopy = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        var system = SystemLibStdCxx.Locate();
        var systemHasIt = system is not null && SystemLibStdCxx.Provides(system, Need);
        Assert.Equal(!systemHasIt, ElfVersionNeedPatcher.IsWeak(outputCopy, Need));
        Assert.False(ElfVersionNeedPatcher.IsWeak(PackagedLibrary, Need), "the NuGet cache copy must stay untouched");
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}
