using ScaleKD.Torch.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests;

public class TorchSharpLoadsTests
{
    [Fact]
    public void TorchInitialisesAndTrainsAStepInTheTestProcess()
    {
        var backend = TorchBackend.Initialize();
        Assert.Equal(DeviceType.CPU, backend.Device.type);
        Assert.False(backend.FellBackToCpu);

        manual_seed(7);
        using var scope = NewDisposeScope();
        var model = nn.Linear(4, 1);
        var optimizer = optim.SGD(model.parameters(), 0.1);
        var x = randn(32, 4);
        var y = x.matmul(tensor(new float[] { 1, -2, 3, 0.5f }).reshape(4, 1));
        var before = nn.functional.mse_loss(model.forward(x), y).item<float>();
        for (var step = 0; step < 5; step++)
        {
            optimizer.zero_grad();
            nn.functional.mse_loss(model.forward(x), y).backward();
            optimizer.step();
        }
        var after = nn.functional.mse_loss(model.forward(x), y).item<float>();
        Assert.True(after < before * 0.8, $"loss went from {before} to {after}");
    }
}
