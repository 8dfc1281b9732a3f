using ScaleKD.Torch.Models;
using ScaleKD.Torch.Teachers;

namespace ScaleKD.Torch.Training;

/// <summary>
/// Builds the student of a <see cref="DistillationSpec"/>, for every front end and for the teacher check's
/// student-only estimate alike: initial weights from the run's seed, or pretrained weights
/// (<see cref="DistillationSpec.StudentWeightsPath"/>, timm safetensors) whose classifier is replaced when it was
/// trained for other classes.
/// </summary>
public static class StudentFactory
{
    /// <summary>The student for <paramref name="classCount"/> classes at the spec's image size.</summary>
    /// <param name="log">Told when pretrained weights are loaded and when their classifier was replaced.</param>
    /// <exception cref="InvalidDataException">A backbone key of the weights is missing, unexpected or mis-shaped; the
    /// message names the keys.</exception>
    public static VisionModel Create(DistillationSpec spec, int classCount, IProgress<string>? log = null)
    {
        var student = ModelRegistry.Create(spec.Student, new ModelOptions(classCount, spec.ImageSize), spec.Seed);
        if (spec.StudentWeightsPath is not { } path)
            return student;
        try
        {
            var import = PretrainedWeights.Import(student, path);
            log?.Report(import.ClassifierLoaded
                ? $"the student starts from {path}."
                : $"the student starts from {path}; its classifier ({string.Join(", ", import.SkippedKeys)}) was trained for other classes and starts new.");
            return student;
        }
        catch
        {
            student.Dispose();
            throw;
        }
    }
}
