using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training.Optimization;
using ScaleKD.Torch.Weights;
using TorchSharp.Modules;

namespace ScaleKD.Torch.Training;

/// <summary>
/// What a checkpoint gives back to a resumed run: the run's record (<see cref="TrainingCheckpoint"/>: epochs done,
/// history, best so far) and the weights and optimizer state of the moment it was written. <see cref="Save"/> writes
/// one, <see cref="Load"/> reads one, refusing a checkpoint of another run or format version with a message that
/// names the difference.
/// </summary>
/// <param name="State">The run's record.</param>
/// <param name="Student">The student's weights (safetensors).</param>
/// <param name="Objective">The objective's weights: projectors, regressors (safetensors).</param>
/// <param name="Optimizer">The optimizer, schedule position and EMA (<see cref="OptimizerCheckpoint"/>).</param>
/// <param name="Best">The best epoch's weights so far, if any (safetensors).</param>
/// <param name="Path">The file it came from.</param>
public sealed record ResumeState(TrainingCheckpoint State, byte[] Student, byte[] Objective, byte[] Optimizer, byte[]? Best, string Path)
{
    const string StudentSection = "student";
    const string ObjectiveSection = "objective";
    const string OptimizerSection = "optimizer";
    const string BestSection = "best";

    /// <summary>The checkpoint at <paramref name="path"/>, or null when there is none.</summary>
    /// <param name="run">The run about to start; the checkpoint must have been written by the same kind of run.</param>
    /// <exception cref="InvalidOperationException">The checkpoint belongs to a run with other settings.</exception>
    /// <exception cref="InvalidDataException">The file is not a complete checkpoint of this format version.</exception>
    public static ResumeState? Load(string? path, TrainingCheckpoint run)
    {
        if (path is null || !File.Exists(path))
            return null;
        var (state, sections) = CheckpointFile.Load<TrainingCheckpoint>(path);
        state.CheckMatches(run, path);
        byte[] Section(string name) => sections.TryGetValue(name, out var bytes)
            ? bytes
            : throw new InvalidDataException($"'{path}' has no '{name}' section.");
        return new ResumeState(state, Section(StudentSection), Section(ObjectiveSection), Section(OptimizerSection),
            sections.GetValueOrDefault(BestSection), path);
    }

    /// <summary>Writes a checkpoint atomically.</summary>
    /// <param name="nextStep">The index of the next update (the schedule's position).</param>
    public static void Save(string path, TrainingCheckpoint state, VisionModel student, DistillationObjective objective,
        OptimizerHelper optimizer, long nextStep, ModelEma? ema, byte[]? best)
    {
        using var optimizerState = new MemoryStream();
        OptimizerCheckpoint.Save(optimizerState, optimizer, nextStep, ema);
        var sections = new Dictionary<string, byte[]>
        {
            [StudentSection] = SafetensorsWeights.ToBytes(student),
            [ObjectiveSection] = SafetensorsWeights.ToBytes(objective),
            [OptimizerSection] = optimizerState.ToArray(),
        };
        if (best is not null)
            sections[BestSection] = best;
        CheckpointFile.Save(path, state, sections);
    }

    /// <summary>Copies the weights back in place, so optimizers and the EMA are then built on the restored parameters.</summary>
    public void RestoreWeights(VisionModel student, DistillationObjective objective)
    {
        SafetensorsWeights.LoadBytes(student, Student, $"checkpoint {Path} (student)");
        SafetensorsWeights.LoadBytes(objective, Objective, $"checkpoint {Path} (projectors)");
    }

    /// <summary>Restores the optimizer's and the EMA's state; returns the index of the next update.</summary>
    public long RestoreOptimizer(OptimizerHelper optimizer, ModelEma? ema)
    {
        using var stream = new MemoryStream(Optimizer, writable: false);
        return OptimizerCheckpoint.Restore(stream, optimizer, ema);
    }
}
