namespace ScaleKD.Cli;

/// <summary>A student run cut short by a stop request (Ctrl-C or SIGTERM).</summary>
/// <param name="Method">The run's method.</param>
/// <param name="Epochs">Epochs it finished in this process.</param>
/// <param name="ModelPath">The zip of its best weights so far, or null when no epoch had finished (nothing was saved).</param>
/// <param name="CheckpointDirectory">Where its checkpoint is, or null when the run was not checkpointed.</param>
public sealed record StoppedRun(Torch.Distillation.DistillationMethod Method, int Epochs, string? ModelPath, string? CheckpointDirectory);
