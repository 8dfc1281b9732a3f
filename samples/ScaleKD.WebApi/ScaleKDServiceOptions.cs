namespace ScaleKD.WebApi;

/// <summary>The "ScaleKD" configuration section (environment variables: ScaleKD__ModelPath and so on).</summary>
public sealed class ScaleKDServiceOptions
{
    public const string Section = "ScaleKD";

    /// <summary>The model zip saved by ML.NET from a pipeline with a ScaleKD step.</summary>
    public string ModelPath { get; set; } = "";

    /// <summary>The largest accepted image file.</summary>
    public long MaxImageBytes { get; set; } = 10 * 1024 * 1024;

    /// <summary>The largest accepted image by pixel count: a small PNG can decode to gigabytes, so the header is
    /// checked before decoding. 4096×4096 by default: far more than a classifier looks at (it scales every image to its
    /// input size), and one decoded image then costs at most 64 MB.</summary>
    public long MaxImagePixels { get; set; } = 4096 * 4096;

    /// <summary>Predictions running at once (one pooled engine each); 0 means one per CPU core, since scoring is
    /// CPU-bound and more parallel forward passes only compete for the same cores.</summary>
    public int MaxConcurrentPredictions { get; set; }

    /// <summary>Multipart framing (boundaries, headers, other fields) allowed on top of the image in a request.</summary>
    public const long FormOverheadBytes = 64 * 1024;

    public long MaxRequestBytes => MaxImageBytes + FormOverheadBytes;

    public int EffectiveConcurrency => MaxConcurrentPredictions > 0 ? MaxConcurrentPredictions : Environment.ProcessorCount;
}
