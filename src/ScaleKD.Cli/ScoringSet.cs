using Microsoft.ML;

namespace ScaleKD.Cli;

/// <summary>Labelled images for <c>evaluate</c>, as a data view of <see cref="ImageBytesRow"/>.</summary>
/// <param name="Rows">The images.</param>
/// <param name="ClassNames">The data's classes, in order.</param>
/// <param name="Count">How many images <paramref name="Rows"/> holds.</param>
/// <param name="Description">What was loaded, for the output.</param>
public sealed record ScoringSet(IDataView Rows, IReadOnlyList<string> ClassNames, long Count, string Description);
