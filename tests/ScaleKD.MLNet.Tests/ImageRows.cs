using Microsoft.ML.Data;

namespace ScaleKD.MLNet.Tests;

/// <summary>One line of the PNG folder's TSV files: the input of the README pipeline.</summary>
public sealed class ImageRow
{
    [LoadColumn(0)] public string Label { get; set; } = "";
    [LoadColumn(1)] public string ImagePath { get; set; } = "";
}

/// <summary>What the README pipeline adds.</summary>
public sealed class Prediction
{
    public float[] Score { get; set; } = [];
    public string PredictedLabel { get; set; } = "";
}
