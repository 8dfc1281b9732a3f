using ScaleKD.Torch.Training.Data;

namespace ScaleKD.Torch.Teachers;

/// <summary>The data a teacher is prepared on.</summary>
/// <param name="Train">What a from-scratch teacher learns from and a linear probe fits a head on; its classes are the
/// teacher's.</param>
/// <param name="Validation">Checked after every epoch of from-scratch training and after a probe; null for none.</param>
/// <param name="CacheKey">Names this data for the teacher cache: where it lives, its classes, and the subsets the teacher
/// sees (training and validation images); teachers are cached only for named data.</param>
public sealed record TeacherData(IBatchSource Train, IBatchSource? Validation = null, string? CacheKey = null);
