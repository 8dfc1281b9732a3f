using ScaleKD.Torch.Training.Data;

namespace ScaleKD.Torch.Jobs;

/// <summary>The classes without images: what <see cref="Teachers.TeacherPreparation"/> is given for a saved teacher,
/// which it only checks against the classes.</summary>
sealed class EmptySource(IReadOnlyList<string> classNames) : IBatchSource
{
    public int ClassCount => ClassNames.Count;

    public long Count => 0;

    public IReadOnlyList<string> ClassNames { get; } = classNames;

    public IEnumerable<LabeledBatch> ReadBatches(BatchRequest request, CancellationToken cancellationToken = default) => [];
}
