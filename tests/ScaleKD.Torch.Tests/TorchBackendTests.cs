using ScaleKD.Tests.Shared;
using ScaleKD.Torch.Native;
using TorchSharp;

namespace ScaleKD.Torch.Tests;

public class TorchBackendTests
{
    static string BundledNativeFolder => Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");

    [Fact]
    public void DefaultsToTheCpuAndTheBundledLibTorch()
    {
        var info = TorchBackend.Initialize();
        Assert.Equal(DeviceType.CPU, info.Device.type);
        Assert.Contains("package", info.LibTorchSource);
        Assert.Contains("CPU", info.Description);
    }

    [Fact]
    public void AskingForCudaWithoutOneFailsAndSaysWhatWasTried()
    {
        var error = Assert.Throws<InvalidOperationException>(() => TorchBackend.Initialize(new TorchBackendOptions { UseCuda = true }));
        Assert.Contains("Tried:", error.Message);
        Assert.Contains("torch.cuda.is_available() is false", error.Message);
        Assert.Contains(TorchBackend.LibTorchDirectoryVariable, error.Message);
        Assert.Contains(nameof(TorchBackendOptions.FallbackToCpu), error.Message);
    }

    [Fact]
    public void AskingForCudaWithFallbackIsToldItFellBack()
    {
        var info = TorchBackend.Initialize(new TorchBackendOptions { UseCuda = true, FallbackToCpu = true });
        Assert.Equal(DeviceType.CPU, info.Device.type);
        Assert.True(info.FellBackToCpu);
        Assert.Contains("falling back", info.Description);
    }

    [Fact]
    public void AMissingLibTorchFolderIsNamedInTheError()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-such-libtorch-" + Guid.NewGuid());
        var error = Assert.Throws<DirectoryNotFoundException>(() => TorchBackend.Initialize(new TorchBackendOptions { LibTorchDirectory = missing }));
        Assert.Contains(missing, error.Message);
    }

    [Fact]
    public void AFolderWithoutLibTorchIsNamedInTheError()
    {
        var empty = Directory.CreateTempSubdirectory("scalekd-empty-").FullName;
        try
        {
            var error = Assert.Throws<FileNotFoundException>(() => TorchBackend.Initialize(new TorchBackendOptions { LibTorchDirectory = empty }));
            Assert.Contains(empty, error.Message);
            Assert.Contains("libtorch_cpu.so", error.Message);
        }
        finally
        {
            Directory.Delete(empty);
        }
    }

    [Fact]
    public void ABundlingApplicationRefusesAForeignLibTorchFolderInsteadOfLoadingTwoCopies()
    {
        var foreign = Directory.CreateTempSubdirectory("scalekd-foreign-").FullName;
        try
        {
            File.Copy(Path.Combine(BundledNativeFolder, "libtorch_cpu.so"), Path.Combine(foreign, "libtorch_cpu.so"));
            var error = Assert.Throws<InvalidOperationException>(() => TorchBackend.Initialize(new TorchBackendOptions { LibTorchDirectory = foreign }));
            Assert.Contains("ScaleKDTorchBackend=external", error.Message);
        }
        finally
        {
            Directory.Delete(foreign, recursive: true);
        }
    }

    static ChildProcess.Result RunExternalHost(string? libTorchFolder, params string[] arguments) =>
        ChildProcess.Run("ScaleKD.ExternalLibTorchHost",
            new Dictionary<string, string?> { [TorchBackend.LibTorchDirectoryVariable] = libTorchFolder }, arguments);

    [Fact]
    public void AnExternalBuildLoadsLibTorchFromTheEnvironmentFolder()
    {
        // The test's own bundled natives stand in for an installed PyTorch's torch/lib: the mechanism is the same.
        var result = RunExternalHost(BundledNativeFolder);
        Assert.True(result.ExitCode == 0, result.StandardError);
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains($"source={BundledNativeFolder}", lines);
        Assert.Contains("device=cpu", lines);
        Assert.Contains("sum=45", lines);
        Assert.Equal($"mapped={Path.Combine(BundledNativeFolder, "libtorch_cpu.so")}", Assert.Single(lines, l => l.StartsWith("mapped=")));
    }

    [Fact]
    public void AnExternalBuildAskingForCudaOnACpuLibTorchSaysWhatWasTried()
    {
        var result = RunExternalHost(BundledNativeFolder, "--cuda");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"Tried: libtorch from {BundledNativeFolder}", result.StandardError);

        var fallback = RunExternalHost(BundledNativeFolder, "--cuda", "--fallback");
        Assert.True(fallback.ExitCode == 0, fallback.StandardError);
        Assert.Contains("fellback=True", fallback.StandardOutput);
    }

    [Fact]
    public void AnApplicationWithoutLibTorchNamesThePackagesToAddAndTheVariableToSet()
    {
        var result = RunExternalHost(null);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains(TorchBackend.LibTorchDirectoryVariable, result.StandardError);
        foreach (var package in new[] { "TorchSharp-cpu", "libtorch-cpu-linux-x64", "TorchSharp-cuda-linux" })
            Assert.Contains(package, result.StandardError);
        // A package consumer never chose a build switch of this repository.
        Assert.DoesNotContain("ScaleKDTorchBackend", result.StandardError);
    }
}
