using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Optimization;

namespace ScaleKD.MLNet.Tests;

/// <summary>
/// The README pipeline (MapValueToKey → LoadImages → ScaleKD → MapKeyToValue) fitted once on the PNG folder with a
/// tiny teacher (trained from scratch) and student at 64 px, saved as a zip, shared by the tests that fit
/// (<see cref="SerialFitCollection"/>). <see cref="Progress"/> and <see cref="TeacherProgress"/> hold this fit's reports.
/// </summary>
public sealed class TrainedPipeline : IDisposable
{
    public TrainedPipeline()
    {
        Images = new FashionPngFolder();
        Context = new MLContext(seed: 1);
        Train = Context.Data.LoadFromTextFile<ImageRow>(Images.TrainTsv, separatorChar: '\t');
        Test = Context.Data.LoadFromTextFile<ImageRow>(Images.TestTsv, separatorChar: '\t');
        var prepare = Context.Transforms.Conversion.MapValueToKey("Label").Append(Context.Transforms.LoadImages("Image", Images.Folder, "ImagePath"));
        Options = TinyOptions(prepare.Fit(Train).Transform(Test));
        Options.Progress = new SynchronousProgress(Progress.Add);
        Options.TeacherProgress = new SynchronousProgress(TeacherProgress.Add);
        Model = Pipeline(Context, Images.Folder, Options).Fit(Train);
        ZipPath = Path.Combine(Images.Folder, "student.zip");
        Context.Model.Save(Model, Train.Schema, ZipPath);
    }

    public FashionPngFolder Images { get; }
    public MLContext Context { get; }
    public IDataView Train { get; }
    public IDataView Test { get; }
    public ScaleKDTrainer.Options Options { get; }
    public ITransformer Model { get; }
    public string ZipPath { get; }
    public List<DistillationProgress> Progress { get; } = [];
    public List<DistillationProgress> TeacherProgress { get; } = [];

    /// <summary>A learnable CPU setting: a from-scratch tiny ViT teacher, a tiny ResNet student, 64 px.</summary>
    public ScaleKDTrainer.Options TinyOptions(IDataView? validation) => new()
    {
        Teacher = "vit_pico_patch4_32",
        TeacherEpochs = 2,
        Student = "resnet_pico",
        ImageSize = 64,
        Epochs = 3,
        BatchSize = 32,
        Seed = 1,
        ValidationSet = validation,
        Optimizer = new OptimizerRecipe { Kind = OptimizerKind.AdamW, LearningRate = 1e-2, WeightDecay = 0.01, WarmupEpochs = 0.25 },
        Augmentation = AugmentationOptions.Disabled(64),
    };

    public static IEstimator<ITransformer> Pipeline(MLContext ml, string imageFolder, ScaleKDTrainer.Options options) =>
        ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadImages("Image", imageFolder, "ImagePath"))
            .Append(ml.MulticlassClassification.Trainers.ScaleKD(options))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

    public void Dispose()
    {
        (Model as IDisposable)?.Dispose();
        Images.Dispose();
    }

    public sealed class SynchronousProgress(Action<DistillationProgress> report) : IProgress<DistillationProgress>
    {
        public void Report(DistillationProgress value) => report(value);
    }
}
