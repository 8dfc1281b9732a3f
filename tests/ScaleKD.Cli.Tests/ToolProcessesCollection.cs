namespace ScaleKD.Cli.Tests;

/// <summary>The tests that run the tool's training in child processes take turns: on two cores, a PyTorch job beside
/// the command tests' distill pushed that one past its two-minute limit.</summary>
[CollectionDefinition(Name)]
public sealed class ToolProcessesCollection
{
    public const string Name = "Tool processes";
}
