using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.MLNet;

// Distils a teacher into a small student on an image folder listed by two TSV files ("label TAB file name"), saves
// the model zip and scores one image from it. tests/ScaleKD.MLNet.Tests checks that README.md shows this code.
if (args.Length < 3)
{
    Console.Error.WriteLine("usage: QuickStart IMAGE_FOLDER TRAIN_TSV TEST_TSV [TEACHER_SAFETENSORS]");
    return 2;
}
var (imageFolder, trainTsv, testTsv) = (args[0], args[1], args[2]);
var teacherWeights = args.Length > 3 ? args[3] : null;

// README-BEGIN
var ml = new MLContext(seed: 1);
var train = ml.Data.LoadFromTextFile<ImageInput>(trainTsv, separatorChar: '\t');
var test = ml.Data.LoadFromTextFile<ImageInput>(testTsv, separatorChar: '\t');

var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
    .Append(ml.Transforms.LoadImages("Image", imageFolder, "ImagePath"))
    .Append(ml.MulticlassClassification.Trainers.ScaleKD(new ScaleKDTrainer.Options
    {
        Teacher = "vit_small_patch16_224",      // a timm name; its weights from timm / Hugging Face safetensors
        TeacherWeightsPath = teacherWeights,    // null: train the teacher from scratch on this data first
        Student = "resnet18",
        ImageSize = 224,
        Epochs = 30,
    }))
    .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

var model = pipeline.Fit(train);                        // distils; the teacher is used during Fit only
var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
Console.WriteLine($"top-1 accuracy {metrics.MicroAccuracy:P1}");
ml.Model.Save(model, train.Schema, "student.zip");      // the student's weights live inside the zip

// Later, in another process or a web app:
var loaded = ml.Model.Load("student.zip", out _);
using var engine = ml.Model.CreatePredictionEngine<ImageInput, ImagePrediction>(loaded);
var prediction = engine.Predict(new ImageInput { ImagePath = "some-image.png" });
Console.WriteLine($"{prediction.PredictedLabel} ({prediction.Score.Max():P0})");
// README-END
return 0;

/// <summary>One row of the TSV files.</summary>
public sealed class ImageInput
{
    [LoadColumn(0)] public string Label { get; set; } = "";
    [LoadColumn(1)] public string ImagePath { get; set; } = "";
}

/// <summary>What the model adds.</summary>
public sealed class ImagePrediction
{
    public string PredictedLabel { get; set; } = "";
    public float[] Score { get; set; } = [];
}
