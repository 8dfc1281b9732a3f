namespace ScaleKD.Torch.Tests.Training;

/// <summary>Training runs reseed torch's global generator (dropout, stochastic depth); tests in other classes running
/// at the same time would draw from it too, so these run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialTrainingCollection
{
    public const string Name = "Serial training";
}
