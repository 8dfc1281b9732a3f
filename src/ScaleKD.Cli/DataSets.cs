using Microsoft.ML;
using ScaleKD.Torch.Jobs;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training.Data;
using SkiaSharp;

namespace ScaleKD.Cli;

/// <summary>A labelled image data set as ML.NET data views of <see cref="ImageBytesRow"/>, streamed (never all in memory).</summary>
/// <param name="Train">Training rows.</param>
/// <param name="Validation">Held-out rows checked after every epoch: <see cref="Test"/>, or a class-balanced part of it
/// when a validation limit is given.</param>
/// <param name="Test">All held-out rows (Fashion-MNIST's test split, or a fifth of an image folder or TSV): the final accuracy.</param>
/// <param name="TeacherTrain">Rows a from-scratch teacher learns from (all training data, even when the student's is limited).</param>
/// <param name="ClassNames">Class names in key order.</param>
/// <param name="Description">What was loaded, for reports.</param>
public sealed record ImageDataSet(IDataView Train, IDataView Validation, IDataView Test, IDataView TeacherTrain, IReadOnlyList<string> ClassNames, string Description);

/// <summary>Opens <c>--data</c>: a Fashion-MNIST IDX folder (the default), an image folder with one sub-folder per class,
/// or a TSV of "label TAB image path" lines. The subsets (held-out split, limited training set) are always drawn with
/// the same seed, so runs with different training seeds see the same images and differ only in their own randomness.</summary>
public static class DataSets
{
    const int SubsetSeed = 0;

    static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"];

    /// <param name="trainLimit">Use a class-balanced subset of this many training images (the data-limited regime).</param>
    /// <param name="validationLimit">Use at most this many validation images.</param>
    /// <param name="teacherTrainLimit">A from-scratch teacher learns from this many training images (class-balanced); null: all.</param>
    public static ImageDataSet Open(MLContext ml, string? data, int? trainLimit, int? validationLimit, int? teacherTrainLimit = null)
    {
        data ??= FashionMnist.DefaultDirectory;
        if (Directory.Exists(data) && Directory.EnumerateFiles(data, "train-images-idx3-ubyte*").Any())
            return OpenIdx(ml, data, trainLimit, validationLimit, teacherTrainLimit);
        if (!Directory.Exists(data) && data == FashionMnist.DefaultDirectory)
            throw new CliException($"Fashion-MNIST is not installed at {data}.", "sudo apt-get install dataset-fashion-mnist (or pass --data FOLDER|FILE.tsv)");
        var (train, validation, test, teacherTrain, classes) = SplitFiles(data, trainLimit, validationLimit, teacherTrainLimit);
        return new ImageDataSet(FromFiles(ml, train), FromFiles(ml, validation), FromFiles(ml, test), FromFiles(ml, teacherTrain), classes,
            $"{data}: {train.Count} training images, {validation.Count} checked each epoch of {test.Count} held out, {classes.Count} classes");
    }

    /// <summary>The same subsets as <see cref="Open"/>, as a job export takes them: the student's training images (IDX
    /// positions or files), and for IDX data the teacher's images, which a from-scratch or probed teacher needs.</summary>
    public static (JobData Train, TeacherData? Teacher, IReadOnlyList<string> ClassNames) ForJob(string? data, int? trainLimit, int? validationLimit,
        int? teacherTrainLimit)
    {
        data ??= FashionMnist.DefaultDirectory;
        if (Directory.Exists(data) && Directory.EnumerateFiles(data, "train-images-idx3-ubyte*").Any())
        {
            var (train, validation, _, teacherTrain) = IdxSubsets(data, trainLimit, validationLimit, teacherTrainLimit);
            var images = Path.Combine(data, "train-images-idx3-ubyte.gz");
            var labels = Path.Combine(data, "train-labels-idx1-ubyte.gz");
            return (new JobData.Idx(images, labels, train.FileCount, trainLimit is null ? null : train.Indices),
                new TeacherData(teacherTrain, validation), FashionMnist.ClassNames);
        }
        var files = SplitFiles(data, trainLimit, validationLimit, teacherTrainLimit);
        return (new JobData.Files(files.Train), null, files.ClassNames);
    }

    static (List<(string Label, string Path)> Train, List<(string Label, string Path)> Validation, List<(string Label, string Path)> Test,
        List<(string Label, string Path)> TeacherTrain, List<string> ClassNames) SplitFiles(string data, int? trainLimit, int? validationLimit, int? teacherTrainLimit)
    {
        if (!Directory.Exists(data) && data == FashionMnist.DefaultDirectory)
            throw new CliException($"Fashion-MNIST is not installed at {data}.", "sudo apt-get install dataset-fashion-mnist (or pass --data FOLDER|FILE.tsv)");
        var rows = Directory.Exists(data) ? FolderRows(data)
            : File.Exists(data) ? TsvRows(data)
            : throw new CliException($"--data '{data}' is neither a folder nor a file.", "pass an image folder (one sub-folder per class), a Fashion-MNIST IDX folder or a TSV of label<TAB>path");
        if (rows.Count == 0)
            throw new CliException($"--data '{data}' holds no images.", $"images need one of the extensions {string.Join(", ", ImageExtensions)}");
        var classes = rows.Select(r => r.Label).Distinct().Order(StringComparer.Ordinal).ToList();
        if (classes.Count < 2)
            throw new CliException($"--data '{data}' has a single class ({classes[0]}).", "classification needs at least two classes");
        var random = new Random(SubsetSeed);
        var shuffled = rows.OrderBy(_ => random.Next()).ToList();
        var heldOutCount = Math.Max(1, shuffled.Count / 5);
        var test = shuffled.Take(heldOutCount).ToList();
        var validation = test.Take(validationLimit ?? int.MaxValue).ToList();
        var train = shuffled.Skip(heldOutCount).ToList();
        var limited = trainLimit is { } limit ? train.Take(limit).ToList() : train;
        var teacherTrain = teacherTrainLimit is { } teacherLimit ? train.Take(teacherLimit).ToList() : train;
        return (limited, validation, test, teacherTrain, classes);
    }

    /// <summary>MapValueToKey("Label") with keys in <paramref name="classNames"/> order (key i + 1 ↔ class i).</summary>
    public static IEstimator<ITransformer> LabelToKey(MLContext ml, IReadOnlyList<string> classNames) =>
        ml.Transforms.Conversion.MapValueToKey("Label", keyData: ml.Data.LoadFromEnumerable(classNames.Select(n => new ClassName { Label = n })));

    sealed class ClassName
    {
        public string Label { get; set; } = "";
    }

    /// <summary>Image files with labels as rows whose bytes are read when a cursor reaches them.</summary>
    public static IDataView FromFiles(MLContext ml, IReadOnlyList<(string Label, string Path)> files) =>
        ml.Data.LoadFromEnumerable(LazyRows(files));

    static IEnumerable<ImageBytesRow> LazyRows(IReadOnlyList<(string Label, string Path)> files)
    {
        foreach (var (label, path) in files)
            yield return new ImageBytesRow { Label = label, Image = File.ReadAllBytes(path) };
    }

    static List<(string Label, string Path)> FolderRows(string folder) =>
        Directory.EnumerateDirectories(folder).Order(StringComparer.Ordinal)
            .SelectMany(classFolder => Directory.EnumerateFiles(classFolder)
                .Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal)
                .Select(f => (Path.GetFileName(classFolder), f)))
            .ToList();

    static List<(string Label, string Path)> TsvRows(string tsv)
    {
        var baseFolder = Path.GetDirectoryName(Path.GetFullPath(tsv))!;
        return File.ReadLines(tsv).Select((line, number) => (line, number)).Where(l => l.line.Trim().Length > 0).Select(l =>
        {
            var parts = l.line.Split('\t');
            if (parts.Length < 2)
                throw new CliException($"{tsv} line {l.number + 1} is not 'label<TAB>path'.", "one image per line: the class, a tab, then the image path (relative to the TSV's folder or absolute)");
            var path = Path.IsPathRooted(parts[1]) ? parts[1] : Path.Combine(baseFolder, parts[1]);
            return (parts[0], path);
        }).ToList();
    }

    static ImageDataSet OpenIdx(MLContext ml, string folder, int? trainLimit, int? validationLimit, int? teacherTrainLimit)
    {
        var (train, validation, test, teacherTrain) = IdxSubsets(folder, trainLimit, validationLimit, teacherTrainLimit);
        return new ImageDataSet(FromIdx(ml, train), FromIdx(ml, validation), FromIdx(ml, test), FromIdx(ml, teacherTrain), FashionMnist.ClassNames,
            $"Fashion-MNIST ({folder}): {train.Count} training images for the student{(trainLimit is null ? "" : $" (of {train.FileCount})")}, " +
            $"{teacherTrain.Count} for a from-scratch teacher, {validation.Count} test images checked each epoch, all {test.Count} for the final accuracy");
    }

    static (IdxImageSource Train, IdxImageSource Validation, IdxImageSource Test, IdxImageSource TeacherTrain) IdxSubsets(string folder, int? trainLimit,
        int? validationLimit, int? teacherTrainLimit)
    {
        var allTrain = FashionMnist.Train(folder);
        var train = trainLimit is { } limit ? allTrain.TakeStratified(limit, SubsetSeed) : allTrain;
        var teacherTrain = teacherTrainLimit is { } teacherLimit ? allTrain.TakeStratified(teacherLimit, SubsetSeed) : allTrain;
        var test = FashionMnist.Test(folder);
        var validation = validationLimit is { } v ? test.TakeStratified(v, SubsetSeed + 1) : test;
        return (train, validation, test, teacherTrain);
    }

    /// <summary>IDX images encoded as PNG bytes on the fly, so they take the same path as image files.</summary>
    public static IDataView FromIdx(MLContext ml, IdxImageSource source) => ml.Data.LoadFromEnumerable(IdxRows(source));

    static IEnumerable<ImageBytesRow> IdxRows(IdxImageSource source)
    {
        var (height, width) = source.ImageSize;
        foreach (var batch in source.ReadBatches(new BatchRequest(0, 256, Shuffle: false, 0, DropLast: false)))
        {
            using (batch)
            {
                using var bytes = batch.Images.mul(255).round_().to(TorchSharp.torch.ScalarType.Byte);
                var pixels = bytes.data<byte>().ToArray();
                var labels = batch.Labels.data<long>().ToArray();
                for (var i = 0; i < labels.Length; i++)
                    yield return new ImageBytesRow { Label = source.ClassNames[(int)labels[i]], Image = EncodeGrayPng(pixels.AsSpan(i * height * width, height * width), width, height) };
            }
        }
    }

    /// <summary>An 8-bit grayscale image as PNG bytes.</summary>
    public static byte[] EncodeGrayPng(ReadOnlySpan<byte> pixels, int width, int height)
    {
        using var bitmap = new SKBitmap(width, height, SKColorType.Gray8, SKAlphaType.Opaque);
        System.Runtime.InteropServices.Marshal.Copy(pixels.ToArray(), 0, bitmap.GetPixels(), pixels.Length);
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
