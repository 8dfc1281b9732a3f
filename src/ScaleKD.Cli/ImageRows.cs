using Microsoft.ML.Data;

namespace ScaleKD.Cli;

/// <summary>A labelled image as the tool's model zips take it: the encoded file bytes (PNG, JPEG…).</summary>
public sealed class ImageBytesRow
{
    /// <summary>The class name; empty when unknown (prediction).</summary>
    public string Label { get; set; } = "";

    /// <summary>The encoded image file.</summary>
    [VectorType]
    public byte[] Image { get; set; } = [];

    /// <summary>Where the bytes came from (empty for images decoded from IDX files): the trainer names it when the
    /// bytes cannot be decoded.</summary>
    public string ImagePath { get; set; } = "";
}

/// <summary>An image as a stock zip (written by export) takes it: the file's path.</summary>
public sealed class ImagePathRow
{
    /// <summary>The image file; a relative path is read from the working folder.</summary>
    public string ImagePath { get; set; } = "";
}

/// <summary>What a model zip adds to a row.</summary>
public sealed class ImagePrediction
{
    /// <summary>The predicted class name.</summary>
    public string PredictedLabel { get; set; } = "";

    /// <summary>Class probabilities in the model's class order.</summary>
    public float[] Score { get; set; } = [];
}
