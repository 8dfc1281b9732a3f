using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.MLNet;
using ScaleKD.MLNet.Tests;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Optimization;

namespace ScaleKD.Samples.Tests;

/// <summary>
/// A model zip as a user would have one: the README pipeline (MapValueToKey → LoadImages → ScaleKD → MapKeyToValue)
/// fitted once on the Fashion-MNIST PNG folder. The student alone (Method None) for two epochs at 64 px keeps it to
/// seconds; the samples only need a real zip, not a good one.
/// </summary>
public sealed class SampleModel : IDisposable
{
    public SampleModel()
    {
        Images = new FashionPngFolder();
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromTextFile<ImageRow>(Images.TrainTsv, separatorChar: '\t');
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", Images.Folder, "ImagePath"))
            .Append(ml.MulticlassClassification.Trainers.ScaleKD(new ScaleKDTrainer.Options
            {
                Method = DistillationMethod.None,
                Student = "resnet_pico",
                ImageSize = 64,
                Epochs = 2,
                BatchSize = 32,
                Seed = 1,
                Optimizer = new OptimizerRecipe { Kind = OptimizerKind.AdamW, LearningRate = 1e-2, WeightDecay = 0.01 },
                Augmentation = AugmentationOptions.Disabled(64),
            }))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        using (var model = pipeline.Fit(train))
            ml.Model.Save(model, train.Schema, ZipPath);
        TestImages = File.ReadAllLines(Images.TestTsv).Select(line => Path.Combine(Images.Folder, line.Split('\t')[1])).ToList();
    }

    public FashionPngFolder Images { get; }
    public string ZipPath => Path.Combine(Images.Folder, "student.zip");

    /// <summary>Absolute paths of the test-split PNGs.</summary>
    public IReadOnlyList<string> TestImages { get; }

    /// <summary>Scores through the whole saved pipeline, the way QuickStart does: the reference for the samples.</summary>
    public Prediction[] PredictInProcess(IEnumerable<string> imagePaths)
    {
        var ml = new MLContext();
        // The engine owns the model here (ML.NET's default) and disposes it with itself.
        using var engine = ml.Model.CreatePredictionEngine<ImageRow, Prediction>(ml.Model.Load(ZipPath, out _));
        return imagePaths.Select(path => engine.Predict(new ImageRow { ImagePath = path })).ToArray();
    }

    public void Dispose() => Images.Dispose();
}

[CollectionDefinition(Name)]
public sealed class SampleModelCollection : ICollectionFixture<SampleModel>
{
    public const string Name = "SampleModel";
}
