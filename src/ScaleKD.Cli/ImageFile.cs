namespace ScaleKD.Cli;

/// <summary>One labelled image file of an image folder or a TSV, with where it was listed, so that a problem with it can
/// name the TSV line as well as the file.</summary>
/// <param name="Label">The class name.</param>
/// <param name="Path">The image file.</param>
/// <param name="Tsv">The TSV that lists it, or null for a file found in a class folder.</param>
/// <param name="Line">Its 1-based line in <paramref name="Tsv"/>.</param>
public sealed record ImageFile(string Label, string Path, string? Tsv = null, int Line = 0)
{
    /// <summary>"FILE" or "TSV line N: FILE", for messages.</summary>
    public string Where => Tsv is null ? Path : $"{Tsv} line {Line}: {Path}";
}
