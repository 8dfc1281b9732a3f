namespace ScaleKD.Torch.Models;

/// <summary>The choices a model is built with, on top of its named configuration.</summary>
/// <param name="NumClasses">Classifier outputs.</param>
/// <param name="ImageSize">Square input size in pixels; fixes position-embedding grids and window masks.</param>
/// <param name="InChannels">Input channels (3 for RGB).</param>
/// <param name="DropPathRate">Stochastic-depth rate of the deepest block, for models that have residual blocks.</param>
public sealed record ModelOptions(int NumClasses = 1000, int ImageSize = 224, int InChannels = 3, double DropPathRate = 0.0);
