using Microsoft.ML;

namespace ScaleKD.Cli;

/// <summary>
/// Labelled images written out as files in a temporary folder, for a stock zip, which reads images by path: the data
/// sets hold encoded bytes (an IDX split has no files at all). The folder is removed on disposal.
/// </summary>
sealed class ImageFiles : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("scalekd-images-").FullName;

    sealed class LabelledPath
    {
        public string Label { get; set; } = "";
        public string ImagePath { get; set; } = "";
    }

    /// <summary>The rows of <paramref name="images"/> (Label, Image bytes) as (Label, ImagePath), in the same order.</summary>
    public IDataView Write(MLContext ml, IDataView images)
    {
        var rows = ml.Data.CreateEnumerable<ImageBytesRow>(images, reuseRowObject: false).Select((row, i) =>
        {
            // The decoder reads the format from the bytes; the extension is only for a person looking at the folder.
            var path = Path.Combine(_folder, $"{i:D6}.img");
            File.WriteAllBytes(path, row.Image);
            return new LabelledPath { Label = row.Label, ImagePath = path };
        }).ToList();
        return ml.Data.LoadFromEnumerable(rows);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
