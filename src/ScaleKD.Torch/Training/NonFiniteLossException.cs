namespace ScaleKD.Torch.Training;

/// <summary>Training produced a NaN or infinite loss. The last good checkpoint, if any, is kept.</summary>
public sealed class NonFiniteLossException(string message) : Exception(message);
