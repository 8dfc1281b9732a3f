using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.MLNet;

namespace ScaleKD.BatchScoring;

/// <summary>
/// Scores every image file in a folder: the directory listing becomes an IDataView, LoadImages reads the files, and
/// the zip's ScaleKD student scores them with Transform, a batch of rows per forward pass. Only the student is taken
/// from the zip, so it does not matter which columns the training pipeline started from.
/// </summary>
public static class BatchScorer
{
    static readonly HashSet<string> ImageExtensions = new(StringComparer.OrdinalIgnoreCase) { ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp" };

    public sealed class ImageFile
    {
        public string ImagePath { get; set; } = "";
    }

    public sealed class ScoredFile
    {
        public string ImagePath { get; set; } = "";
        public float[] Score { get; set; } = [];
    }

    /// <summary>Writes "file TAB label TAB probability" per image, then a summary; returns the number scored.</summary>
    public static int Run(string modelZip, string imageFolder, TextWriter output)
    {
        if (!File.Exists(modelZip))
            throw new FileNotFoundException($"The model zip '{modelZip}' does not exist.", modelZip);
        if (!Directory.Exists(imageFolder))
            throw new DirectoryNotFoundException($"The image folder '{imageFolder}' does not exist.");
        var clock = Stopwatch.StartNew();
        var ml = new MLContext();
        var loaded = ml.Model.Load(modelZip, out _);
        try
        {
            var student = (loaded as IEnumerable<ITransformer>)?.OfType<ScaleKDTransformer>().FirstOrDefault()
                ?? loaded as ScaleKDTransformer
                ?? throw new InvalidDataException($"The model zip '{modelZip}' holds no ScaleKD student.");

            var files = Directory.EnumerateFiles(imageFolder)
                .Where(path => ImageExtensions.Contains(Path.GetExtension(path)))
                .Order(StringComparer.Ordinal)
                .Select(path => new ImageFile { ImagePath = Path.GetFileName(path) })
                .ToList();
            var listing = ml.Data.LoadFromEnumerable(files);
            var images = ml.Transforms.LoadImages(student.ImageColumnName, imageFolder, nameof(ImageFile.ImagePath))
                .Fit(listing).Transform(listing);
            var scored = student.Transform(images);

            // The zip may call its score column otherwise.
            var columns = SchemaDefinition.Create(typeof(ScoredFile));
            columns[nameof(ScoredFile.Score)].ColumnName = student.ScoreColumnName;
            var perLabel = new SortedDictionary<string, int>(StringComparer.Ordinal);
            var count = 0;
            foreach (var row in ml.Data.CreateEnumerable<ScoredFile>(scored, reuseRowObject: true, schemaDefinition: columns))
            {
                var best = Array.IndexOf(row.Score, row.Score.Max());
                var label = student.ClassNames[best];
                output.WriteLine($"{row.ImagePath}\t{label}\t{row.Score[best]:F3}");
                perLabel[label] = perLabel.GetValueOrDefault(label) + 1;
                count++;
            }
            output.WriteLine($"scored {count} images in {clock.Elapsed.TotalSeconds:F1} s: "
                + string.Join(", ", perLabel.Select(pair => $"{pair.Key} {pair.Value}")));
            return count;
        }
        finally
        {
            (loaded as IDisposable)?.Dispose();
        }
    }
}
