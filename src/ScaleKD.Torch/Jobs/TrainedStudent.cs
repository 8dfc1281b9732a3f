using ScaleKD.Torch.Models;
using ScaleKD.Torch.Weights;

namespace ScaleKD.Torch.Jobs;

/// <summary>The student a finished job wrote (<c>student.safetensors</c>, timm names), rebuilt as the model
/// <c>scalekd distill</c> would have returned, with the job's settings.</summary>
/// <param name="Model">The student with the trained weights.</param>
/// <param name="Settings">The job's settings (its spec and classes).</param>
/// <param name="StoppedEarly">Why the run that wrote the student ended before the job's last epoch, from its
/// <c>metrics.json</c> (for example <c>"it stopped after epoch 1 of 3"</c>); null when it finished or left no metrics.</param>
public sealed record TrainedStudent(VisionModel Model, JobSettings Settings, string? StoppedEarly = null) : IDisposable
{
    /// <summary>Reads the job folder's settings and trained student.</summary>
    /// <exception cref="FileNotFoundException">job.json or student.safetensors is missing (the job has not finished).</exception>
    /// <exception cref="InvalidDataException">job.json names a model this library does not build, or the weights do not
    /// fit the job's student; the message names the key or the weights' keys.</exception>
    public static TrainedStudent Load(string folder)
    {
        var settings = JobSettings.Read(folder);
        var path = Path.Combine(folder, JobExport.StudentFile);
        if (!File.Exists(path))
            throw new FileNotFoundException($"'{path}' is missing: run the job first (python3 -m torch.distributed.run --nproc_per_node=N {Path.Combine(folder, PythonRunner.Script)}).", path);
        if (!ModelRegistry.Names.Contains(settings.Student.Model))
            throw new InvalidDataException($"'{Path.Combine(folder, JobSettings.FileName)}' student.model: '{settings.Student.Model}' is not a model this library builds ({string.Join(", ", ModelRegistry.Names)}).");
        var model = ModelRegistry.Create(settings.Student.Model, new ModelOptions(settings.ClassNames.Count, settings.ImageSize, settings.InChannels));
        try
        {
            SafetensorsWeights.Load(model, path);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return new TrainedStudent(model, settings, StoppedEarlyIn(Path.Combine(folder, MetricsFile)));
    }

    /// <summary>The per-epoch record train.py writes beside the student.</summary>
    public const string MetricsFile = "metrics.json";

    /// <summary>train.py's <c>complete</c> flag is false when the run ended before the job's last epoch
    /// (<c>--epochs</c>, <c>--max-steps</c>), and its <c>stopped</c> says where; an older or unreadable file says nothing.</summary>
    static string? StoppedEarlyIn(string metricsPath)
    {
        if (!File.Exists(metricsPath))
            return null;
        try
        {
            using var metrics = System.Text.Json.JsonDocument.Parse(File.ReadAllText(metricsPath));
            var root = metrics.RootElement;
            if (!root.TryGetProperty("complete", out var complete) || complete.GetBoolean())
                return null;
            return root.TryGetProperty("stopped", out var stopped) ? stopped.GetString() : "it stopped before the job's last epoch";
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <inheritdoc />
    public void Dispose() => Model.Dispose();
}
