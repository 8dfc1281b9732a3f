namespace ScaleKD.Cli.Tests;

/// <summary>The test classes that run the tool in processes of its own, one class at a time: on two cores, training
/// processes of two classes at once pushed the shared distill fixture past its two-minute limit.</summary>
[CollectionDefinition(Name)]
public sealed class ToolProcessCollection
{
    public const string Name = "scalekd processes";
}
