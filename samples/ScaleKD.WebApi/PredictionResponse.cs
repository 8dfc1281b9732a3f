namespace ScaleKD.WebApi;

/// <summary>The /predict answer: the most probable class and the class probabilities, most probable first.</summary>
public sealed record PredictionResponse(string Label, IReadOnlyDictionary<string, float> Scores)
{
    /// <param name="top">Keep only the most probable classes; null keeps all.</param>
    public static PredictionResponse From(IReadOnlyList<string> classNames, float[] probabilities, int? top)
    {
        var ranked = Enumerable.Range(0, probabilities.Length).OrderByDescending(i => probabilities[i]).Take(top ?? probabilities.Length).ToList();
        // Dictionary enumerates in insertion order here, which System.Text.Json keeps in the JSON object.
        var scores = new Dictionary<string, float>(ranked.Count);
        foreach (var i in ranked)
            scores[classNames[i]] = probabilities[i];
        return new PredictionResponse(classNames[ranked[0]], scores);
    }
}
