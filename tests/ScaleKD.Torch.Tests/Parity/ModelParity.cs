using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Weights;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Parity;

/// <summary>
/// The whole-model parity check against a fixture from <c>fixture.model_case</c> (tests/reference/fixture.py): load
/// the reference weights strictly by timm name, run in eval mode, compare the four stages, pre-logits, logits and
/// the gradient of sum(logits·w) with respect to the images.
/// </summary>
static class ModelParity
{
    public static void Check(string fixtureName, string modelName, ModelOptions options)
    {
        TorchBackend.Initialize();
        using var fixture = ParityFixture.Load(fixtureName);
        using var scope = NewDisposeScope();
        var model = ModelRegistry.Create(modelName, options);
        StateDicts.LoadStrict(model, fixture.Parameters(), $"fixture {fixtureName}");
        model.eval();

        var images = fixture.Input("images").clone().requires_grad_(true);
        var result = model.ForwardStages(images);
        Assert.Equal(4, result.Stages.Count);
        var shapes = model.StageShapes();
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(new long[] { images.shape[0], shapes[i].Channels, shapes[i].Height, shapes[i].Width }, result.Stages[i].shape);
            ParityAssert.Relative(fixture.Output($"stage{i + 1}"), result.Stages[i], $"{modelName} stage{i + 1}");
        }
        ParityAssert.Relative(fixture.Output("pre_logits"), result.PreLogits, $"{modelName} pre_logits");
        ParityAssert.Relative(fixture.Output("logits"), result.Logits, $"{modelName} logits");

        (result.Logits * fixture.Input("logit_weights")).sum().backward();
        ParityAssert.Relative(fixture.Grad("images"), images.grad!, $"{modelName} d(logits)/d(images)");
    }
}
