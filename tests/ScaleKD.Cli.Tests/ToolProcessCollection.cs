namespace ScaleKD.Cli.Tests;

/// <summary>The test classes that run the tool (or a PyTorch job) in processes of their own, one class at a time: on two
/// cores, training processes of two classes at once pushed the shared distill fixture past its time limit.</summary>
[CollectionDefinition(Name)]
public sealed class ToolProcessCollection
{
    public const string Name = "scalekd processes";
}
