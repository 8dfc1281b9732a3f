using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training;

namespace ScaleKD.Torch.Teachers;

/// <summary>Where a prepared teacher's weights came from.</summary>
public enum TeacherOrigin
{
    /// <summary>A teacher this library saved, given as the weights.</summary>
    Saved,
    /// <summary>A teacher trained earlier with the same settings on the same data, from the cache.</summary>
    Cached,
    /// <summary>Pretrained weights whose head fits the classes.</summary>
    Pretrained,
    /// <summary>Pretrained weights with a new head fitted by a linear probe.</summary>
    PretrainedWithProbe,
    /// <summary>Trained from scratch here.</summary>
    TrainedFromScratch,
    /// <summary>Pretrained weights with a probed head, then fine-tuned whole on the data's labels.</summary>
    FineTuned,
}

/// <summary>A teacher ready to distil from: on the run's device, its head fitting the data's classes.</summary>
/// <param name="Model">The teacher; the caller owns it (<see cref="Dispose"/> frees it).</param>
/// <param name="Origin">Where its weights came from.</param>
/// <param name="ValidationTop1">Its validation top-1 accuracy, when it was measured (now, or when it was saved).</param>
/// <param name="History">The epochs of from-scratch training; empty otherwise.</param>
/// <param name="Path">The file it was loaded from or saved to, if any.</param>
public sealed record PreparedTeacher(VisionModel Model, TeacherOrigin Origin, double? ValidationTop1, IReadOnlyList<EpochMetrics> History, string? Path)
    : IDisposable
{
    /// <summary>Frees the teacher's native memory.</summary>
    public void Dispose() => Model.Dispose();
}
