using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ScaleKD.Tests.Shared;

/// <summary>
/// Runs an exported job's <c>train.py</c> under Debian's PyTorch (<c>python3-torch</c>, which scripts/prerequisites.sh
/// installs): the Python interpreter that imports torch (SCALEKD_PYTHON, /usr/bin/python3, or python3 on the PATH),
/// and torchrun on a free port.
/// </summary>
public static class TorchJob
{
    /// <summary>The interpreter with torch, or null when none is installed.</summary>
    public static string? Python { get; } = FindPython();

    /// <summary>Why the job tests skip, or null when they run.</summary>
    public static string? SkipReason => Python is null
        ? "python3-torch is not installed (sudo apt-get install python3-torch; scripts/prerequisites.sh installs it)"
        : null;

    /// <summary>timm's version where that interpreter imports timm (clusters; not Debian), else null.</summary>
    public static string? TimmVersion => LazyTimmVersion.Value;

    static readonly Lazy<string?> LazyTimmVersion = new(() =>
    {
        if (Python is null)
            return null;
        var start = new ProcessStartInfo(Python, ["-c", "import timm; print(timm.__version__)"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        var result = ChildProcess.Run(start, "import timm", TimeSpan.FromMinutes(2));
        return result.ExitCode == 0 ? result.StandardOutput.Trim() : null;
    });

    /// <summary>Runs <c>JOB/train.py</c> on <paramref name="processes"/> gloo processes; throws with the output on failure.</summary>
    public static ChildProcess.Result Run(string jobFolder, int processes, params string[] arguments)
    {
        var result = Start(jobFolder, processes, arguments);
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"train.py on {processes} processes failed ({result.ExitCode}):\n{result.StandardError}\n{result.StandardOutput}");
        return result;
    }

    /// <summary>Runs <c>JOB/train.py</c> on <paramref name="processes"/> gloo processes and returns how it ended.</summary>
    public static ChildProcess.Result Start(string jobFolder, int processes, params string[] arguments)
    {
        var python = Python ?? throw new InvalidOperationException(SkipReason);
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        // Debian 12's torch 1.13 launcher under Python 3.11 cannot parse its own default --redirects/--tee of "0"
        // (fixed in PyTorch 2.0); redirecting stdout to its log folder and teeing it back works on both.
        foreach (var a in new[] { "-m", "torch.distributed.run", $"--nproc_per_node={processes}", $"--master_port={FreePort()}",
                     "--redirects", "1", "--tee", "1", "--log_dir", Path.Combine(jobFolder, "logs"), Path.Combine(jobFolder, "train.py") })
            start.ArgumentList.Add(a);
        foreach (var a in arguments)
            start.ArgumentList.Add(a);
        start.Environment["OMP_NUM_THREADS"] = "1";
        return ChildProcess.Run(start, $"train.py on {processes} processes", TimeSpan.FromMinutes(3));
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    static string? FindPython()
    {
        var candidates = new[] { Environment.GetEnvironmentVariable("SCALEKD_PYTHON"), "/usr/bin/python3", "python3" };
        foreach (var candidate in candidates.OfType<string>())
        {
            try
            {
                var start = new ProcessStartInfo(candidate, ["-c", "import torch"]) { RedirectStandardOutput = true, RedirectStandardError = true };
                using var process = Process.Start(start)!;
                process.WaitForExit();
                if (process.ExitCode == 0)
                    return candidate;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // not installed under this name
            }
        }
        return null;
    }
}

/// <summary>A fact that needs PyTorch: skipped, with the reason, only where python3-torch is not installed.</summary>
public sealed class TorchJobFactAttribute : FactAttribute
{
    public TorchJobFactAttribute() => Skip = TorchJob.SkipReason;
}

/// <summary>A theory that needs PyTorch (see <see cref="TorchJobFactAttribute"/>).</summary>
public sealed class TorchJobTheoryAttribute : TheoryAttribute
{
    public TorchJobTheoryAttribute() => Skip = TorchJob.SkipReason;
}

/// <summary>A fact that needs timm beside PyTorch: skipped, with the reason, where the interpreter cannot import it
/// (Debian packages no timm, so CI skips it; it runs where timm is installed, or on PYTHONPATH).</summary>
public sealed class TimmFactAttribute : FactAttribute
{
    public TimmFactAttribute() => Skip = TorchJob.SkipReason ?? (TorchJob.TimmVersion is null
        ? "timm cannot be imported here (Debian 12 packages none); put a timm checkout on PYTHONPATH to run this"
        : null);
}
