using System.Diagnostics;
using System.Text;

namespace ScaleKD.Torch.IO;

/// <summary>
/// Writes a file through a temporary file beside it, flushed to disk and renamed over the target, so a crash or a
/// SIGKILL leaves either the old file or the new one, never half of one. Weights, checkpoints, teacher descriptions,
/// inflated data files, model zips, reports and plots are all written this way.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> with what <paramref name="write"/> puts into the stream it is given.</summary>
    /// <exception cref="FileWriteException">The file could not be written (a full disk, say); it is as it was.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        // A name of its own per call: two threads of one process may write the same file at once (two test fixtures
        // inflating one data file did), and a shared per-process name made the second one fail on the first one's lock.
        var temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(directory);
            RemoveStaleTemporaries(directory, Path.GetFileName(full));
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
                write(stream);
            // Some writers close the stream they are given, so the flush to disk gets a handle of its own.
            using (var written = new FileStream(temp, FileMode.Open, FileAccess.Write, FileShare.None))
                written.Flush(flushToDisk: true);
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not FileWriteException)
        {
            // The system's message names the temporary file; the user needs the one that was lost, and why.
            throw new FileWriteException(full, e.Message.Replace($" : '{temp}'", "", StringComparison.Ordinal).Trim(), e);
        }
        finally
        {
            if (Directory.Exists(directory))
                File.Delete(temp);
        }
    }

    /// <summary>Writes <paramref name="text"/> as UTF-8 (without a byte-order mark).</summary>
    public static void WriteAllText(string path, string text) =>
        Write(path, stream => stream.Write(new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(text)));

    /// <summary>A writer killed mid-write leaves its temporary file behind; the next writer of the same file removes
    /// it, unless the process that owns it is still running (another process may be writing the same file).</summary>
    static void RemoveStaleTemporaries(string directory, string fileName)
    {
        foreach (var stale in Directory.EnumerateFiles(directory, $".{fileName}.*.tmp"))
        {
            var owner = Path.GetFileName(stale)[(fileName.Length + 2)..^".tmp".Length].Split('.')[0];
            if (int.TryParse(owner, out var pid) && pid != Environment.ProcessId && !IsRunning(pid))
                File.Delete(stale);
        }
    }

    static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
