using System.Text;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Optimization;

/// <summary>
/// Saves and restores what a resumed run needs besides the model's weights: the optimizer's exact state (moments, step
/// counts, momentum buffers, every group's hyperparameters and learning rates), the schedule position (the next
/// update's index; schedules are pure functions of it) and the EMA model.
/// <para>
/// The format is binary: a magic string and version, the step, the optimizer in TorchSharp's
/// <c>save_state_dict</c> format, then an EMA flag and the EMA. It reads exactly what it wrote and leaves the stream
/// open, so it can follow or precede other content (the model's weights) in one file. For crash safety write to a
/// temporary file, flush it, then rename it over the old checkpoint.
/// </para>
/// </summary>
public static class OptimizerCheckpoint
{
    const string Magic = "ScaleKD.OptimizerCheckpoint";
    const int Version = 1;

    /// <summary>Writes the checkpoint to <paramref name="stream"/> (left open).</summary>
    /// <param name="stream">A writable stream.</param>
    /// <param name="optimizer">An optimizer from <see cref="OptimizerFactory"/> (any managed TorchSharp optimizer).</param>
    /// <param name="nextStep">The index of the next update: the number of updates made so far.</param>
    /// <param name="ema">The EMA model, if the run keeps one.</param>
    public static void Save(Stream stream, OptimizerHelper optimizer, long nextStep, ModelEma? ema = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentOutOfRangeException.ThrowIfNegative(nextStep);
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        writer.Write(Magic);
        writer.Write(Version);
        writer.Write(nextStep);
        optimizer.save_state_dict(writer);
        writer.Write(ema is not null);
        ema?.Save(writer);
        writer.Flush();
    }

    /// <summary>
    /// Restores a checkpoint into freshly built objects of the same configuration: an optimizer over the same
    /// parameters (in the same groups) and, if one was saved, an EMA of the same model.
    /// </summary>
    /// <param name="stream">A readable stream positioned where <see cref="Save"/> started writing (left open).</param>
    /// <param name="optimizer">The optimizer to restore into.</param>
    /// <param name="ema">The EMA to restore into; required exactly when the checkpoint has one.</param>
    /// <returns>The index of the next update, to pass to the schedule.</returns>
    public static long Restore(Stream stream, OptimizerHelper optimizer, ModelEma? ema = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(optimizer);
        using var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        string magic;
        try
        {
            magic = reader.ReadString();
        }
        catch (Exception e) when (e is EndOfStreamException or IOException)
        {
            throw new InvalidDataException("This is not a ScaleKD optimizer checkpoint (it ends too early).", e);
        }
        if (magic != Magic)
            throw new InvalidDataException("This is not a ScaleKD optimizer checkpoint.");
        var version = reader.ReadInt32();
        if (version != Version)
            throw new InvalidDataException($"Optimizer checkpoint version {version} is not supported (this build reads version {Version}).");
        var nextStep = reader.ReadInt64();
        optimizer.load_state_dict(reader);
        KeepLoadedStateAlive(optimizer);

        var hasEma = reader.ReadBoolean();
        if (hasEma != (ema is not null))
            throw new InvalidDataException(hasEma
                ? "The checkpoint holds an EMA model; pass the ModelEma to restore it into."
                : "The checkpoint holds no EMA model, but a ModelEma was passed to restore.");
        ema?.Load(reader);
        return nextStep;
    }

    // TorchSharp's SGD loads a momentum buffer it did not have yet (none before the first step) as a new tensor,
    // which the caller's dispose scope, if any, would free at its end. AdamW and LAMB load in place.
    static void KeepLoadedStateAlive(OptimizerHelper optimizer)
    {
        foreach (var state in optimizer.state_dict().State)
            if (state is SGD.State { momentum_buffer: { } buffer })
                buffer.DetachFromDisposeScope();
    }
}
