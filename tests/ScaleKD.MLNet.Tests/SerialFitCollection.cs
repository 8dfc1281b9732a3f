namespace ScaleKD.MLNet.Tests;

/// <summary>A fit seeds torch's global generator (initial weights, dropout, stochastic depth), and building any model
/// draws from it; test classes doing either at the same time would change each other's results, so the classes that
/// touch torch run alone, one after another, and share one fitted pipeline.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialFitCollection : ICollectionFixture<TrainedPipeline>
{
    public const string Name = "Serial fits";
}
