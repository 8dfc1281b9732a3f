namespace ScaleKD.Torch.Training;

/// <summary>What a training checkpoint records besides its binary sections: enough to resume exactly and to refuse a
/// checkpoint made for a different run.</summary>
/// <param name="Student">The student's registered name.</param>
/// <param name="Method">The distillation method.</param>
/// <param name="Seed">The run's seed.</param>
/// <param name="Epochs">Epochs planned (the learning-rate schedule depends on it).</param>
/// <param name="BatchSize">Images per step.</param>
/// <param name="TrainCount">Training examples (the steps per epoch depend on it).</param>
/// <param name="CompletedEpochs">Epochs finished when it was written.</param>
/// <param name="History">Their metrics.</param>
/// <param name="Best">The best monitored validation value so far, if any.</param>
/// <param name="BestEpoch">Its 1-based epoch, or −1.</param>
/// <param name="BestIsEma">Whether the best weights are the EMA's.</param>
public sealed record TrainingCheckpoint(
    string Student, string Method, int Seed, int Epochs, int BatchSize, long TrainCount,
    int CompletedEpochs, IReadOnlyList<EpochMetrics> History, double? Best, int BestEpoch, bool BestIsEma)
{
    /// <summary>The file name inside a checkpoint directory.</summary>
    public const string FileName = "last.ckpt";

    /// <summary>The record of a run that has not finished an epoch yet.</summary>
    public static TrainingCheckpoint NewRun(string student, DistillationSpec spec, long trainCount) =>
        new(student, spec.Method.ToString(), spec.Seed, spec.Epochs, spec.BatchSize, trainCount, 0, [], null, -1, false);

    /// <summary>Fails when this checkpoint belongs to a run with different settings, naming the difference.</summary>
    public void CheckMatches(TrainingCheckpoint run, string path)
    {
        var differences = new List<string>();
        void Compare<T>(string what, T saved, T now)
        {
            if (!EqualityComparer<T>.Default.Equals(saved, now))
                differences.Add($"{what} {saved} (now {now})");
        }
        Compare("student", Student, run.Student);
        Compare("method", Method, run.Method);
        Compare("seed", Seed, run.Seed);
        Compare("epochs", Epochs, run.Epochs);
        Compare("batch size", BatchSize, run.BatchSize);
        Compare("training examples", TrainCount, run.TrainCount);
        if (differences.Count > 0)
            throw new InvalidOperationException(
                $"The checkpoint '{path}' was written by a different run: {string.Join(", ", differences)}. Resume with the same " +
                "settings, or delete the checkpoint (or choose another checkpoint directory) to start over.");
    }
}
