using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.MLNet;

// fit IDX_FOLDER WORK_FOLDER: writes a few hundred Fashion-MNIST images as PNG files, fits the README pipeline with pico
//   models, saves WORK_FOLDER/model.zip and writes the test images' scores to WORK_FOLDER/scores-fit.txt.
// score WORK_FOLDER: loads model.zip in this (fresh) process and writes the same images' scores to scores-load.txt.
// The scores are written as float bits, so the two files are equal only when the loaded model is the fitted one.
if (args is not (["fit", _, _] or ["score", _]))
{
    Console.Error.WriteLine("usage: PackageConsumer fit IDX_FOLDER WORK_FOLDER | score WORK_FOLDER");
    return 2;
}
var work = args[^1];
var images = Path.Combine(work, "images");
var ml = new MLContext(seed: 1);
if (args[0] == "fit")
{
    Directory.CreateDirectory(images);
    WritePngs(args[1], "train", 320, images);
    WritePngs(args[1], "t10k", 100, images);
    var train = ml.Data.LoadFromTextFile<ImageInput>(Path.Combine(images, "train.tsv"), separatorChar: '\t');
    var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
        .Append(ml.Transforms.LoadImages("Image", images, "ImagePath"))
        .Append(ml.MulticlassClassification.Trainers.ScaleKD(new ScaleKDTrainer.Options
        {
            Teacher = "vit_pico_patch4_32",   // trained from scratch on this data first
            TeacherEpochs = 1,
            Student = "mixer_pico_patch4_32",
            ImageSize = 32,
            Epochs = 2,
            BatchSize = 32,
        }))
        .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
    var model = pipeline.Fit(train);
    ml.Model.Save(model, train.Schema, Path.Combine(work, "model.zip"));
    WriteScores(ml, model, images, Path.Combine(work, "scores-fit.txt"));
}
else
{
    var loaded = ml.Model.Load(Path.Combine(work, "model.zip"), out _);
    WriteScores(ml, loaded, images, Path.Combine(work, "scores-load.txt"));
}
return 0;

static void WriteScores(MLContext ml, ITransformer model, string images, string path)
{
    var test = ml.Data.LoadFromTextFile<ImageInput>(Path.Combine(images, "t10k.tsv"), separatorChar: '\t');
    var scored = model.Transform(test);
    var metrics = ml.MulticlassClassification.Evaluate(scored);
    var lines = ml.Data.CreateEnumerable<ImagePrediction>(scored, reuseRowObject: false)
        .Select(p => $"{p.PredictedLabel} {string.Join(' ', p.Score.Select(s => BitConverter.SingleToInt32Bits(s).ToString("x8")))}")
        .ToList();
    File.WriteAllLines(path, lines);
    Console.WriteLine($"{Path.GetFileName(path)}: {lines.Count} images scored, accuracy {metrics.MicroAccuracy:P1}");
}

// The first COUNT images of Fashion-MNIST's IDX files (Debian's dataset-fashion-mnist) as PNGs, listed in SPLIT.tsv.
static void WritePngs(string idxFolder, string split, int count, string folder)
{
    string[] classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
    var pixels = ReadIdx(Path.Combine(idxFolder, $"{split}-images-idx3-ubyte.gz"), 16, count * 28 * 28);
    var labels = ReadIdx(Path.Combine(idxFolder, $"{split}-labels-idx1-ubyte.gz"), 8, count);
    var lines = new List<string>();
    for (var i = 0; i < count; i++)
    {
        var rgba = new byte[28 * 28 * 4];
        for (var p = 0; p < 28 * 28; p++)
            (rgba[4 * p], rgba[4 * p + 1], rgba[4 * p + 2], rgba[4 * p + 3]) = (pixels[i * 784 + p], pixels[i * 784 + p], pixels[i * 784 + p], 255);
        using var image = MLImage.CreateFromPixels(28, 28, MLPixelFormat.Rgba32, rgba);
        var name = $"{split}-{i:D4}.png";
        image.Save(Path.Combine(folder, name));
        lines.Add($"{classes[labels[i]]}\t{name}");
    }
    File.WriteAllLines(Path.Combine(folder, $"{split}.tsv"), lines);
}

static byte[] ReadIdx(string path, int headerBytes, int count)
{
    using var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
    gzip.ReadExactly(new byte[headerBytes]);
    var data = new byte[count];
    gzip.ReadExactly(data);
    return data;
}

sealed class ImageInput
{
    [LoadColumn(0)] public string Label { get; set; } = "";
    [LoadColumn(1)] public string ImagePath { get; set; } = "";
}

sealed class ImagePrediction
{
    public float[] Score { get; set; } = [];
    public string PredictedLabel { get; set; } = "";
}
