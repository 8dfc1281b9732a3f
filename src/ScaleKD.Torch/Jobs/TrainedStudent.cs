using ScaleKD.Torch.Models;
using ScaleKD.Torch.Weights;

namespace ScaleKD.Torch.Jobs;

/// <summary>The student a finished job wrote (<c>student.safetensors</c>, timm names), rebuilt as the model
/// <c>scalekd distill</c> would have returned, with the job's settings.</summary>
/// <param name="Model">The student with the trained weights.</param>
/// <param name="Settings">The job's settings (its spec and classes).</param>
public sealed record TrainedStudent(VisionModel Model, JobSettings Settings) : IDisposable
{
    /// <summary>Reads the job folder's settings and trained student.</summary>
    /// <exception cref="FileNotFoundException">job.json or student.safetensors is missing (the job has not finished).</exception>
    /// <exception cref="InvalidDataException">The weights do not fit the job's student; the message names the keys.</exception>
    public static TrainedStudent Load(string folder)
    {
        var settings = JobSettings.Read(folder);
        var path = Path.Combine(folder, JobExport.StudentFile);
        if (!File.Exists(path))
            throw new FileNotFoundException($"'{path}' is missing: run the job first (python3 -m torch.distributed.run --nproc_per_node=N {Path.Combine(folder, PythonRunner.Script)}).", path);
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
        return new TrainedStudent(model, settings);
    }

    /// <inheritdoc />
    public void Dispose() => Model.Dispose();
}
