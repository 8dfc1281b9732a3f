namespace ScaleKD.Torch.IO;

/// <summary>
/// Writing a file failed (a full disk, a folder made read-only or removed): <see cref="AtomicFile"/> throws it naming the
/// file it was writing, not its temporary file, so that a tool can say which output was lost and that everything
/// written before it (the last checkpoint) is whole.
/// </summary>
public sealed class FileWriteException(string path, string reason, Exception inner) : IOException($"Writing {path} failed: {reason}", inner)
{
    /// <summary>The file that was being written; it is as it was before the write.</summary>
    public string Path { get; } = path;

    /// <summary>Why, in the system's words ("No space left on device").</summary>
    public string Reason { get; } = reason;
}
