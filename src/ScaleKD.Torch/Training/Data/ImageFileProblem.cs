namespace ScaleKD.Torch.Training.Data;

/// <summary>An image file that cannot be used, found by <see cref="ImageFileCheck"/>.</summary>
/// <param name="Index">Its position in the list that was checked, so the caller can name its own origin (a TSV line).</param>
/// <param name="Path">The file.</param>
/// <param name="Reason">Why: missing, unreadable, not an image, or damaged.</param>
public sealed record ImageFileProblem(int Index, string Path, string Reason);
