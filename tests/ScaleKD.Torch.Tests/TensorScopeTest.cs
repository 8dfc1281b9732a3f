using ScaleKD.Torch.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests;

/// <summary>Base of test classes that make tensors: xUnit builds one instance per test, so each test runs with the
/// backend loaded and inside its own dispose scope, and every tensor it made is freed when it ends.</summary>
public abstract class TensorScopeTest : IDisposable
{
    readonly DisposeScope _scope;

    protected TensorScopeTest()
    {
        TorchBackend.Initialize();
        _scope = NewDisposeScope();
    }

    public virtual void Dispose()
    {
        _scope.Dispose();
        GC.SuppressFinalize(this);
    }
}
