namespace ScaleKD.Torch.Training.Data;

/// <summary>
/// Checks that image files exist and have a readable header (<see cref="ImageHeader"/>), before any training: a bad
/// file found only when a cursor first reaches it may surface hours into a run, after the teacher has trained. Headers
/// only, so tens of thousands of files take seconds; PNGs are also inflated (<see cref="PngPixelData"/>), since a
/// damaged one decodes without an error.
/// </summary>
public static class ImageFileCheck
{
    /// <summary>Every problem among <paramref name="paths"/>, in their order (all of them, not only the first).</summary>
    public static IReadOnlyList<ImageFileProblem> Check(IReadOnlyList<string> paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var reasons = new string?[paths.Count];
        // Header reads wait on the disk, not the CPU: a few at a time hide the latency of a cold cache or a network drive.
        Parallel.For(0, paths.Count, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => reasons[i] = Problem(paths[i]));
        return reasons.Select((reason, i) => reason is null ? null : new ImageFileProblem(i, paths[i], reason)).OfType<ImageFileProblem>().ToList();
    }

    /// <summary>Why the file cannot be used, or null when its header reads (and, for a PNG, its pixel data inflates).</summary>
    public static string? Problem(string path)
    {
        if (Directory.Exists(path))
            return "a folder, not an image file";
        if (!File.Exists(path))
            return "no such file";
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 4096);
            return ImageHeader.Read(stream).Format == "PNG" ? PngPixelData.Problem(stream) : null;
        }
        catch (InvalidDataException e)
        {
            return e.Message;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot be read ({e.Message})";
        }
    }
}
