using Microsoft.ML;
using ScaleKD.Torch.IO;
using ScaleKD.Torch.Jobs;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training.Data;
using SkiaSharp;

namespace ScaleKD.Cli;

/// <summary>A labelled image data set as ML.NET data views of <see cref="ImageBytesRow"/>, streamed (never all in memory).</summary>
/// <param name="Train">Training rows.</param>
/// <param name="Validation">Rows that take every decision (the best epoch, the teacher's probe and check), apart from
/// the training rows and from <see cref="Test"/>: a class-balanced part of Fashion-MNIST's training split, or a tenth
/// of an image folder or TSV.</param>
/// <param name="Test">Rows only the final accuracy is measured on (Fashion-MNIST's test split, or a fifth of an image
/// folder or TSV), so no choice is ever made by them.</param>
/// <param name="TeacherTrain">Rows a from-scratch teacher learns from (all training data, even when the student's is limited).</param>
/// <param name="ClassNames">Class names in key order.</param>
/// <param name="Description">What was loaded, for reports.</param>
/// <param name="Fingerprint">A hash of the data's files (paths, sizes, modification times): part of the teacher cache's
/// key, so that data replaced in place trains a new teacher.</param>
/// <param name="TrainCount">The rows of <paramref name="Train"/> (ML.NET's views of them do not know their count).</param>
public sealed record ImageDataSet(IDataView Train, IDataView Validation, IDataView Test, IDataView TeacherTrain, IReadOnlyList<string> ClassNames, string Description,
    string Fingerprint, long TrainCount);

/// <summary>Opens <c>--data</c>: a Fashion-MNIST IDX folder (the default), an image folder with one sub-folder per class,
/// or a TSV of "label TAB image path" lines. The subsets (held-out split, limited training set) are always drawn with
/// the same seed, so runs with different training seeds see the same images and differ only in their own randomness.</summary>
public static class DataSets
{
    const int SubsetSeed = 0;

    /// <summary>Fashion-MNIST images held out of the training split for validation, unless --validation-limit says.</summary>
    const int IdxValidationImages = 5000;

    static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"];

    /// <param name="trainLimit">Use a class-balanced subset of this many training images (the data-limited regime).</param>
    /// <param name="validationLimit">Use at most this many validation images (class-balanced).</param>
    /// <param name="teacherTrainLimit">A from-scratch teacher learns from this many training images (class-balanced); null: all.</param>
    /// <param name="screen">Sees every image file of an image folder or TSV before the split, and returns those to use
    /// (the pre-flight check: it reports or drops the bad ones).</param>
    public static ImageDataSet Open(MLContext ml, string? data, int? trainLimit, int? validationLimit, int? teacherTrainLimit = null,
        Func<IReadOnlyList<ImageFile>, IReadOnlyList<ImageFile>>? screen = null)
    {
        data ??= FashionMnist.DefaultDirectory;
        if (IsIdx(data))
            return OpenIdx(ml, data, trainLimit, validationLimit, teacherTrainLimit);
        var rows = ListFiles(data, screen);
        var (train, allValidation, test) = Split(rows);
        var validation = Balanced(allValidation, validationLimit);
        var limited = Balanced(train, trainLimit);
        var teacherTrain = Balanced(train, teacherTrainLimit);
        var classes = ClassNames(rows);
        return new ImageDataSet(FromFiles(ml, limited), FromFiles(ml, validation), FromFiles(ml, test), FromFiles(ml, teacherTrain), classes,
            $"{data}: {limited.Count} training, {validation.Count} validation and {test.Count} test images, {classes.Count} classes",
            FileFingerprint.Of(rows.Select(r => r.Path)), limited.Count);
    }

    /// <summary>The same subsets as <see cref="Open"/>, as a job export takes them: the student's training images (IDX
    /// positions or files), and for IDX data the teacher's images, which a from-scratch or probed teacher needs.</summary>
    public static (JobData Train, TeacherData? Teacher, IReadOnlyList<string> ClassNames) ForJob(string? data, int? trainLimit, int? validationLimit,
        int? teacherTrainLimit)
    {
        data ??= FashionMnist.DefaultDirectory;
        if (IsIdx(data))
        {
            var (train, validation, _, teacherTrain) = IdxSubsets(data, trainLimit, validationLimit, teacherTrainLimit);
            var images = Path.Combine(data, "train-images-idx3-ubyte.gz");
            var labels = Path.Combine(data, "train-labels-idx1-ubyte.gz");
            // Always by position: the validation images are held out of the training split even without a limit.
            return (new JobData.Idx(images, labels, train.FileCount, train.Indices), new TeacherData(teacherTrain, validation), FashionMnist.ClassNames);
        }
        var rows = ListFiles(data, screen: null);
        var limited = Balanced(Split(rows).Train, trainLimit);
        return (new JobData.Files(limited.Select(r => (r.Label, r.Path)).ToList()), null, ClassNames(rows));
    }

    /// <summary>Labelled images to score (<c>evaluate</c>): all of an image folder or TSV, or only the fifth that distill
    /// holds out when <paramref name="heldOutOnly"/>; for a Fashion-MNIST IDX folder, its test split.</summary>
    /// <param name="limit">At most this many images, class-balanced; null: all.</param>
    public static ScoringSet OpenForScoring(MLContext ml, string? data, bool heldOutOnly, int? limit,
        Func<IReadOnlyList<ImageFile>, IReadOnlyList<ImageFile>>? screen = null)
    {
        data ??= FashionMnist.DefaultDirectory;
        if (IsIdx(data))
        {
            var allTest = FashionMnist.Test(data);
            var test = limit is { } l ? allTest.TakeStratified(l, SubsetSeed + 1) : allTest;
            return new ScoringSet(FromIdx(ml, test), FashionMnist.ClassNames, test.Count, $"Fashion-MNIST test split ({data}): {test.Count} images, {FashionMnist.ClassNames.Count} classes");
        }
        var rows = ListFiles(data, screen);
        var chosen = Balanced(heldOutOnly ? Split(rows).Test : rows, limit);
        var classes = ClassNames(rows);
        return new ScoringSet(FromFiles(ml, chosen), classes, chosen.Count,
            $"{data}: {chosen.Count} images{(heldOutOnly ? " (the test fifth distill holds out)" : "")}, {classes.Count} classes");
    }

    /// <summary>Whether <paramref name="data"/> is a Fashion-MNIST-style IDX folder (not an image folder or TSV).</summary>
    public static bool IsIdx(string data) => Directory.Exists(data) && Directory.EnumerateFiles(data, "train-images-idx3-ubyte*").Any();

    /// <summary>The image files of a folder or TSV, screened, with at least two classes.</summary>
    static IReadOnlyList<ImageFile> ListFiles(string data, Func<IReadOnlyList<ImageFile>, IReadOnlyList<ImageFile>>? screen)
    {
        if (!Directory.Exists(data) && data == FashionMnist.DefaultDirectory)
            throw new CliException($"Fashion-MNIST is not installed at {data}.", "sudo apt-get install dataset-fashion-mnist (or pass --data FOLDER|FILE.tsv)");
        IReadOnlyList<ImageFile> rows = Directory.Exists(data) ? FolderRows(data)
            : File.Exists(data) ? TsvRows(data)
            : throw new CliException($"--data '{data}' is neither a folder nor a file.", "pass an image folder (one sub-folder per class), a Fashion-MNIST IDX folder or a TSV of label<TAB>path");
        if (rows.Count == 0)
            throw new CliException($"--data '{data}' holds no images.", Directory.Exists(data) && Directory.EnumerateFiles(data).Any(IsImage)
                ? "the images must be in one sub-folder per class (the folder's name is the label), not in the folder itself"
                : $"images need one of the extensions {string.Join(", ", ImageExtensions)}");
        if (screen is not null)
            rows = screen(rows);
        var classes = ClassNames(rows);
        if (classes.Count < 2)
            throw new CliException($"--data '{data}' has {(classes.Count == 0 ? "no usable image" : $"a single class ({classes[0]})")}.", "classification needs at least two classes");
        return rows;
    }

    static List<string> ClassNames(IEnumerable<ImageFile> rows) => rows.Select(r => r.Label).Distinct().Order(StringComparer.Ordinal).ToList();

    /// <summary>Train / validation / test, 70 / 10 / 20 % of every class (a class of 3 images or more gives at least one
    /// to each held-out split), each class shuffled with the fixed subset seed.</summary>
    static (List<ImageFile> Train, List<ImageFile> Validation, List<ImageFile> Test) Split(IReadOnlyList<ImageFile> rows)
    {
        var random = new Random(SubsetSeed);
        var (train, validation, test) = (new List<ImageFile>(), new List<ImageFile>(), new List<ImageFile>());
        foreach (var members in rows.GroupBy(r => r.Label).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.OrderBy(_ => random.Next()).ToList()))
        {
            var testCount = members.Count >= 3 ? Math.Max(1, (int)Math.Round(members.Count * 0.2)) : 0;
            var validationCount = members.Count >= 3 ? Math.Max(1, (int)Math.Round(members.Count * 0.1)) : 0;
            test.AddRange(members.Take(testCount));
            validation.AddRange(members.Skip(testCount).Take(validationCount));
            train.AddRange(members.Skip(testCount + validationCount));
        }
        return (train, validation, test);
    }

    /// <summary>A class-balanced subset of <paramref name="count"/> rows (all when null): the classes take turns, each
    /// in its (shuffled) order, so every class gets count / classes rows, or all it has when it has fewer.</summary>
    static List<ImageFile> Balanced(IReadOnlyList<ImageFile> rows, int? count) => count is not { } n ? [.. rows]
        : rows.GroupBy(r => r.Label).SelectMany(g => g.Select((row, i) => (row, i))).OrderBy(x => x.i).Take(n).Select(x => x.row).ToList();

    /// <summary>MapValueToKey("Label") with keys in <paramref name="classNames"/> order (key i + 1 ↔ class i).</summary>
    public static IEstimator<ITransformer> LabelToKey(MLContext ml, IReadOnlyList<string> classNames) =>
        ml.Transforms.Conversion.MapValueToKey("Label", keyData: ml.Data.LoadFromEnumerable(classNames.Select(n => new ClassName { Label = n })));

    sealed class ClassName
    {
        public string Label { get; set; } = "";
    }

    /// <summary>Image files with labels as rows whose bytes are read when a cursor reaches them.</summary>
    public static IDataView FromFiles(MLContext ml, IReadOnlyList<ImageFile> files) =>
        ml.Data.LoadFromEnumerable(LazyRows(files));

    static IEnumerable<ImageBytesRow> LazyRows(IReadOnlyList<ImageFile> files)
    {
        foreach (var file in files)
        {
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(file.Path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Named here: ML.NET's cursor would report only "Splitter/consolidator worker encountered exception".
                throw new CliException($"{file.Where}: cannot be read ({e.Message}).", "the pre-flight check passed it, so it changed during the run; fix or restore the file and run again");
            }
            yield return new ImageBytesRow { Label = file.Label, Image = bytes, ImagePath = file.Path };
        }
    }

    static bool IsImage(string file) => ImageExtensions.Contains(Path.GetExtension(file).ToLowerInvariant());

    static List<ImageFile> FolderRows(string folder) =>
        Directory.EnumerateDirectories(folder).Order(StringComparer.Ordinal)
            .SelectMany(classFolder => Directory.EnumerateFiles(classFolder)
                .Where(IsImage)
                .Order(StringComparer.Ordinal)
                .Select(f => new ImageFile(Path.GetFileName(classFolder), f)))
            .ToList();

    static List<ImageFile> TsvRows(string tsv)
    {
        var baseFolder = Path.GetDirectoryName(Path.GetFullPath(tsv))!;
        return File.ReadLines(tsv).Select((line, number) => (line, number)).Where(l => l.line.Trim().Length > 0).Select(l =>
        {
            var parts = l.line.Split('\t');
            if (parts.Length < 2)
                throw new CliException($"{tsv} line {l.number + 1} is not 'label<TAB>path'.", "one image per line: the class, a tab, then the image path (relative to the TSV's folder or absolute)");
            var path = Path.IsPathRooted(parts[1]) ? parts[1] : Path.Combine(baseFolder, parts[1]);
            return new ImageFile(parts[0], path, tsv, l.number + 1);
        }).ToList();
    }

    static ImageDataSet OpenIdx(MLContext ml, string folder, int? trainLimit, int? validationLimit, int? teacherTrainLimit)
    {
        var (train, validation, test, teacherTrain) = IdxSubsets(folder, trainLimit, validationLimit, teacherTrainLimit);
        return new ImageDataSet(FromIdx(ml, train), FromIdx(ml, validation), FromIdx(ml, test), FromIdx(ml, teacherTrain), FashionMnist.ClassNames,
            $"Fashion-MNIST ({folder}): {train.Count} training images for the student{(trainLimit is null ? "" : $" (of {train.FileCount - validation.Count})")}, " +
            $"{teacherTrain.Count} for the teacher, {validation.Count} validation images held out of the training split, all {test.Count} test images for the final accuracy",
            FileFingerprint.Of(Directory.EnumerateFiles(folder, "*-ubyte*").Order(StringComparer.Ordinal)), train.Count);
    }

    static (IdxImageSource Train, IdxImageSource Validation, IdxImageSource Test, IdxImageSource TeacherTrain) IdxSubsets(string folder, int? trainLimit,
        int? validationLimit, int? teacherTrainLimit)
    {
        // Validation comes out of the training split, so that Fashion-MNIST's test split is only ever scored, never chosen by.
        var (allTrain, validation) = FashionMnist.Train(folder).SplitStratified(validationLimit ?? IdxValidationImages, SubsetSeed + 1);
        var train = trainLimit is { } limit ? allTrain.TakeStratified(limit, SubsetSeed) : allTrain;
        var teacherTrain = teacherTrainLimit is { } teacherLimit ? allTrain.TakeStratified(teacherLimit, SubsetSeed) : allTrain;
        return (train, validation, FashionMnist.Test(folder), teacherTrain);
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
