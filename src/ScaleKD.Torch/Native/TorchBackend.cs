using System.Runtime.InteropServices;
using TorchSharp;

namespace ScaleKD.Torch.Native;

/// <summary>
/// The one entry point that every public API calls before touching tensors: it loads libtorch (the bundled package or
/// an installed PyTorch's folder) and picks the device.
/// </summary>
/// <remarks>
/// TorchSharp's first use loads libtorch_cpu (and libtorch_cuda) by name: from the application's own folders when the
/// build bundles a libtorch package, otherwise through the dynamic loader, which reuses any library already in the
/// process with that soname. So an installed PyTorch's libraries, preloaded by full path before TorchSharp starts,
/// serve TorchSharp in an application built with <c>-p:ScaleKDTorchBackend=external</c>. This is the route verified
/// with PyTorch 2.11+cu130 on an H200. In a bundling build the same preload would put two libtorch copies in one
/// process, which aborts, so it is refused with an explanation.
/// </remarks>
public static class TorchBackend
{
    /// <summary>Environment variable naming a libtorch folder, used when <see cref="TorchBackendOptions.LibTorchDirectory"/> is null.</summary>
    public const string LibTorchDirectoryVariable = "SCALEKD_LIBTORCH_DIR";

    const string BundledSource = "the libtorch package this application was built with";

    // Dependency order: each library's NEEDED entries are already loaded when it is opened.
    static readonly string[] LibTorchLoadOrder =
        ["libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so"];

    static readonly Lock Gate = new();
    static string? _loadedSource;
    static string? _cpuConvolutions;

    /// <summary>Loads libtorch once per process and resolves the device asked for.</summary>
    /// <exception cref="DirectoryNotFoundException">The libtorch folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The libtorch folder holds no libtorch_cpu.so.</exception>
    /// <exception cref="InvalidOperationException">libtorch cannot be loaded as asked; or CUDA was asked for without
    /// fallback and cannot be used.</exception>
    public static TorchBackendInfo Initialize(TorchBackendOptions? options = null)
    {
        options ??= new TorchBackendOptions();
        var folder = options.LibTorchDirectory ?? NullIfEmpty(Environment.GetEnvironmentVariable(LibTorchDirectoryVariable));
        var bundled = BundledLibTorch();
        if (folder is not null)
            folder = CheckLibTorchFolder(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)), bundled);
        string source;
        lock (Gate)
        {
            if (_loadedSource is null)
            {
                var loaded = LoadLibTorch(folder, bundled is not null);
                _cpuConvolutions = CpuConvolutionCheck.Apply();
                _loadedSource = loaded;
            }
            source = _loadedSource;
            if (folder is not null && source != folder)
                throw new InvalidOperationException(
                    $"libtorch is already loaded in this process from {source}; it cannot be switched to '{folder}'. " +
                    "Choose the libtorch folder before the first use of ScaleKD or TorchSharp.");
        }
        var info = options.UseCuda ? ResolveCuda(options, source) : new TorchBackendInfo(torch.CPU, source, false, $"CPU (libtorch: {source})");
        return info with { CpuConvolutions = _cpuConvolutions! };
    }

    static string LoadLibTorch(string? folder, bool bundled)
    {
        if (folder is not null)
            PreloadFolder(folder);
        else if (!bundled)
            throw new InvalidOperationException(NoLibTorchMessage);
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
        }
        catch (Exception e) when (e is NotSupportedException or DllNotFoundException or TypeInitializationException)
        {
            throw new InvalidOperationException(
                $"TorchSharp could not load libtorch from {folder ?? BundledSource}. On Debian 12 and other GCC 12 " +
                "systems the build must have marked the GLIBCXX_3.4.32 need of libLibTorchSharp.so weak: the ScaleKD.Torch " +
                "package's build step does this in the build and publish output, so run the application from there (or " +
                "build with -p:ScaleKDWeakenGlibcxxNeed=always where the build machine has a newer libstdc++ than the one " +
                "that runs it). Underlying error: " + e.Message, e);
        }
        return folder ?? BundledSource;
    }

    /// <summary>No libtorch package in the application and no folder named: what to add or set.</summary>
    static string NoLibTorchMessage =>
        "ScaleKD found no libtorch: the application references no libtorch package, and " +
        $"{LibTorchDirectoryVariable} is not set. Either add one libtorch package to the application (TorchSharp-cpu; " +
        "or libtorch-cpu-linux-x64, the same CPU libtorch for Linux only; or TorchSharp-cuda-linux for CUDA), e.g. " +
        $"'dotnet add package TorchSharp-cpu', or set {LibTorchDirectoryVariable} (or " +
        $"{nameof(TorchBackendOptions)}.{nameof(TorchBackendOptions.LibTorchDirectory)}) to a libtorch folder such as " +
        "an installed PyTorch's torch/lib.";

    static string CheckLibTorchFolder(string folder, string? bundled)
    {
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException(
                $"The libtorch folder '{folder}' (from {nameof(TorchBackendOptions.LibTorchDirectory)} or {LibTorchDirectoryVariable}) does not exist.");
        if (!File.Exists(Path.Combine(folder, "libtorch_cpu.so")))
            throw new FileNotFoundException(
                $"The libtorch folder '{folder}' holds no libtorch_cpu.so. Point it at PyTorch's torch/lib folder, " +
                "e.g. $(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')/lib.",
                Path.Combine(folder, "libtorch_cpu.so"));
        if (bundled is not null && Path.GetDirectoryName(bundled) != folder)
            throw new InvalidOperationException(
                $"This application bundles libtorch ({bundled}), so the libtorch folder '{folder}' cannot be used: two " +
                "libtorch copies in one process abort. To take libtorch from that folder, build the application without a " +
                "libtorch package (drop TorchSharp-cpu or libtorch-cpu-linux-x64; in the ScaleKD repository, build with " +
                $"-p:ScaleKDTorchBackend=external); to use the bundled one, unset {LibTorchDirectoryVariable}.");
        return folder;
    }

    static void PreloadFolder(string folder)
    {
        foreach (var library in LibTorchLoadOrder.Select(name => Path.Combine(folder, name)).Where(File.Exists))
        {
            try
            {
                NativeLibrary.Load(library);
            }
            catch (DllNotFoundException e)
            {
                throw new InvalidOperationException($"Could not load {library}: {e.Message}", e);
            }
        }
    }

    /// <summary>The application's own libtorch_cpu.so (in a folder the host searches for native libraries), or null.</summary>
    static string? BundledLibTorch() =>
        (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") as string ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, "libtorch_cpu.so"))
            .FirstOrDefault(File.Exists);

    static TorchBackendInfo ResolveCuda(TorchBackendOptions options, string source)
    {
        var available = torch.TryInitializeDeviceType(DeviceType.CUDA);
        var count = available ? torch.cuda.device_count() : 0;
        if (available && options.CudaDeviceIndex >= 0 && options.CudaDeviceIndex < count)
        {
            var device = torch.device(DeviceType.CUDA, options.CudaDeviceIndex);
            return new TorchBackendInfo(device, source, false, $"CUDA device {options.CudaDeviceIndex} of {count} (libtorch: {source})");
        }

        var reason = available
            ? $"CUDA device {options.CudaDeviceIndex} was asked for, but this machine has {count} CUDA device(s)"
            : $"CUDA is not available with libtorch from {source}: torch.cuda.is_available() is false" +
              (source == BundledSource ? " (the bundled package is CPU-only)" : "");
        if (options.FallbackToCpu)
            return new TorchBackendInfo(torch.CPU, source, true, $"CPU, falling back because {reason}");
        throw new InvalidOperationException(
            $"{reason}. Tried: libtorch from {source}; CUDA initialisation; device index {options.CudaDeviceIndex}. " +
            "To use a GPU, reference TorchSharp-cuda-linux instead of a CPU libtorch package, or build without a libtorch " +
            $"package and set {LibTorchDirectoryVariable} to an installed CUDA PyTorch's torch/lib folder (in the ScaleKD " +
            "repository: -p:ScaleKDTorchBackend=cuda or external); " +
            $"to continue on the CPU instead, allow fallback ({nameof(TorchBackendOptions.FallbackToCpu)}).");
    }

    static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
