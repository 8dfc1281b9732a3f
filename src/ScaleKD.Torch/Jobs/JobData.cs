namespace ScaleKD.Torch.Jobs;

/// <summary>The training images a job carries: Fashion-MNIST-style IDX files (with the chosen subset as indices), or
/// image files listed as <c>label&lt;TAB&gt;path</c>.</summary>
public abstract record JobData
{
    JobData()
    {
    }

    /// <summary>How many training images the job sees.</summary>
    public abstract int Count { get; }

    /// <summary>IDX image and label files (gzip or not), copied into the job; <paramref name="Indices"/> selects the
    /// training subset (null: every image).</summary>
    public sealed record Idx(string ImagesPath, string LabelsPath, int TotalCount, IReadOnlyList<int>? Indices) : JobData
    {
        /// <inheritdoc />
        public override int Count => Indices?.Count ?? TotalCount;
    }

    /// <summary>Image files by class name; the job's manifest lists them by absolute path.</summary>
    public sealed record Files(IReadOnlyList<(string Label, string Path)> Images) : JobData
    {
        /// <inheritdoc />
        public override int Count => Images.Count;
    }
}
