using System.Collections;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Data;
using ScaleKD.Torch.Training.Optimization;

namespace ScaleKD.MLNet.Tests;

/// <summary>The trainer as ML.NET's own multiclass trainers behave: the label's type comes back through
/// <c>MapKeyToValue</c>, the estimator promises the schema the transformer gives (annotations included, as SDCA
/// annotates its outputs), progress reaches ML.NET's progress channel, and the options are the spec.</summary>
[Trait("Category", "MLNet")]
[Collection(SerialFitCollection.Name)]
public sealed class SchemaFidelityTests
{
    public sealed class IntRow
    {
        public int Label { get; set; }
        [VectorType] public byte[] Image { get; set; } = [];
        [VectorType(4)] public float[] Features { get; set; } = new float[4];
    }

    public sealed class TextRow
    {
        public string Label { get; set; } = "";
        [VectorType] public byte[] Image { get; set; } = [];
        [VectorType(4)] public float[] Features { get; set; } = new float[4];
    }

    public sealed class IntPrediction
    {
        public int PredictedLabel { get; set; }
    }

    /// <summary>64 Fashion-MNIST training images as PNG bytes with their class index (+ 100, so no label is a key index).</summary>
    static List<IntRow> Rows() =>
        FashionPngFolder.EncodedImages(FashionMnist.Train().TakeStratified(64, seed: 8))
            .Select(image => new IntRow { Label = 100 + image.Label, Image = image.Png }).ToList();

    static ScaleKDTrainer.Options Short() => new()
    {
        Method = DistillationMethod.None,
        Student = "resnet_pico",
        ImageSize = 32,
        Epochs = 2,
        BatchSize = 32,
        Augmentation = AugmentationOptions.Disabled(32),
        Optimizer = new OptimizerRecipe { LearningRate = 1e-2, WarmupEpochs = 0.5 },
    };

    [Fact]
    public void AnIntegerLabelComesBackAsAnIntegerAndProgressReachesMLNetsProgressChannel()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(Rows());
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.MulticlassClassification.Trainers.ScaleKD(Short()))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));
        var model = pipeline.Fit(data);
        var checkpoints = ProgressCheckpoints(ml, "ScaleKD student");
        Assert.Equal(2, checkpoints.Count);
        Assert.All(checkpoints, metrics => Assert.True(metrics[0] is > 0, "the epoch's training loss"));

        var zip = Path.Combine(Path.GetTempPath(), $"scalekd-int-labels-{Environment.ProcessId}.zip");
        ml.Model.Save(model, data.Schema, zip);
        var loaded = ml.Model.Load(zip, out _);
        File.Delete(zip);
        foreach (var fitted in new[] { model, loaded })
        {
            var scored = fitted.Transform(data);
            Assert.Equal(NumberDataViewType.Int32, scored.Schema["PredictedLabel"].Type);
            var predicted = ml.Data.CreateEnumerable<IntPrediction>(scored, reuseRowObject: false).Select(p => p.PredictedLabel).ToList();
            Assert.All(predicted, p => Assert.InRange(p, 100, 109));
        }
    }

    [Fact]
    public void TheEstimatorPromisesTheTransformersSchemaAnnotatedAsMLNetsMulticlassTrainersDo()
    {
        var ml = new MLContext(seed: 1);
        var rows = Rows();
        var intData = ml.Data.LoadFromEnumerable(rows);
        var textData = ml.Data.LoadFromEnumerable(rows.Select(r => new TextRow { Label = $"class {r.Label}", Image = r.Image }));
        foreach (var data in new[] { intData, textData })
        {
            var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(data).Transform(data);
            var estimator = ml.MulticlassClassification.Trainers.ScaleKD(Short());
            var promised = estimator.GetOutputSchema(Shape(keyed.Schema));
            using var transformer = estimator.Fit(keyed);
            var given = Shape(transformer.GetOutputSchema(keyed.Schema));
            var sdca = ml.MulticlassClassification.Trainers.SdcaMaximumEntropy("Label", "Features").GetOutputSchema(Shape(keyed.Schema));
            foreach (var column in new[] { "Score", "PredictedLabel" })
            {
                Assert.Equal(Describe(promised, column), Describe(given, column));
                Assert.Equal(Describe(sdca, column), Describe(given, column));
            }
        }
    }

    [Fact]
    public void TheOptionsAreTheSpecWithTheSameDefaults()
    {
        Assert.Equal(DistillationSpec.Default, new ScaleKDTrainer.Options().ToSpec(0, new TorchBackendOptions()));
        var spec = DistillationSpec.Quick with { Seed = 3, Ema = ModelEmaOptions.Off, CheckpointDirectory = "ck", EarlyStoppingPatience = 2 };
        Assert.Equal(spec, ScaleKDTrainer.Options.FromSpec(spec).ToSpec(3, spec.Backend));
    }

    /// <summary>A column of a schema shape as text: its type, and each annotation's name and type, sorted.</summary>
    static string Describe(SchemaShape shape, string name)
    {
        var column = Assert.Single(shape, c => c.Name == name);
        var annotations = column.Annotations.Select(a => $"{a.Name}: {Type(a)}").Order(StringComparer.Ordinal);
        return $"{Type(column)} [{string.Join("; ", annotations)}]";
    }

    static string Type(SchemaShape.Column column) => $"{column.Kind} {(column.IsKey ? "Key<" : "")}{column.ItemType.RawType.Name}{(column.IsKey ? ">" : "")}";

    /// <summary>What an ML.NET pipeline hands an estimator for a data view's schema (SchemaShape.Create is internal).</summary>
    static SchemaShape Shape(DataViewSchema schema) =>
        (SchemaShape)typeof(SchemaShape).GetMethod("Create", BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic, [typeof(DataViewSchema)])!
            .Invoke(null, [schema])!;

    /// <summary>The metrics of each checkpoint ML.NET's progress tracker received from the named channel.</summary>
    static List<double?[]> ProgressCheckpoints(MLContext ml, string channel)
    {
        const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        var env = typeof(MLContext).GetField("_env", Instance)!.GetValue(ml)!;
        var field = Ancestors(env.GetType()).Select(t => t.GetField("ProgressTracker", Instance)).First(f => f is not null)!;
        var tracker = field.GetValue(env)!;
        var events = (IEnumerable)tracker.GetType().GetMethod("GetAllProgress")!.Invoke(tracker, null)!;
        var checkpoints = new List<double?[]>();
        foreach (var e in events)
        {
            var type = e.GetType();
            if ((string)type.GetField("Name")!.GetValue(e)! != channel || type.GetField("Kind")!.GetValue(e)!.ToString() != "Progress")
                continue;
            var entry = type.GetField("ProgressEntry")!.GetValue(e)!;
            if ((bool)entry.GetType().GetField("IsCheckpoint")!.GetValue(entry)!)
                checkpoints.Add((double?[])entry.GetType().GetField("Metrics")!.GetValue(entry)!);
        }
        return checkpoints;
    }

    static IEnumerable<Type> Ancestors(Type? type)
    {
        for (; type is not null; type = type.BaseType)
            yield return type;
    }
}
