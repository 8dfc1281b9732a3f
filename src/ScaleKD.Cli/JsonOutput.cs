using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Data;

namespace ScaleKD.Cli;

/// <summary>The machine-readable output of predict and evaluate (--json): compact JSON, probabilities as float32
/// values written to round-trip exactly.</summary>
static class JsonOutput
{
    static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };

    /// <summary><c>{"image": PATH, "label": NAME, "scores": {NAME: probability, ...}}</c>, classes in score order.</summary>
    public static string Prediction(string image, string label, IReadOnlyList<string> classNames, IReadOnlyList<float> scores)
    {
        var byClass = new JsonObject();
        for (var i = 0; i < classNames.Count; i++)
            byClass[classNames[i]] = scores[i];
        return new JsonObject { ["image"] = image, ["label"] = label, ["scores"] = byClass }.ToJsonString(Compact);
    }

    /// <summary>Accuracy, log-loss, per-class precision and recall, and the confusion matrix (rows: true class,
    /// columns: predicted class, both in <paramref name="classNames"/>' order).</summary>
    public static string Evaluation(string model, string data, IReadOnlyList<string> classNames, MulticlassClassificationMetrics metrics, double top5)
    {
        var confusion = metrics.ConfusionMatrix;
        var perClass = new JsonArray();
        for (var i = 0; i < classNames.Count; i++)
            perClass.Add(new JsonObject { ["class"] = classNames[i], ["precision"] = confusion.PerClassPrecision[i], ["recall"] = confusion.PerClassRecall[i] });
        var counts = new JsonArray();
        foreach (var row in confusion.Counts)
            counts.Add(new JsonArray(row.Select(c => (JsonNode?)JsonValue.Create((long)c)).ToArray()));
        return new JsonObject
        {
            ["model"] = model,
            ["data"] = data,
            ["images"] = Report.TestImages(metrics),
            ["accuracy"] = metrics.MicroAccuracy,
            ["macroAccuracy"] = metrics.MacroAccuracy,
            ["logLoss"] = metrics.LogLoss,
            ["top5Accuracy"] = double.IsNaN(top5) ? null : top5,
            ["classes"] = perClass,
            ["confusion"] = new JsonObject { ["classes"] = new JsonArray(classNames.Select(n => (JsonNode?)n).ToArray()), ["counts"] = counts },
        }.ToJsonString(Compact);
    }
}
