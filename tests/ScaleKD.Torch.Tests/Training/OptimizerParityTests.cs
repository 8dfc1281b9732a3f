using ScaleKD.Torch.Tests.Parity;
using ScaleKD.Torch.Training.Optimization;
using ScaleKD.Torch.Weights;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>
/// Six scheduled steps of each optimizer on the tiny model against tests/reference/cases_optim.py (PyTorch 1.13): a
/// hand-written reference of timm's LAMB, and PyTorch's own AdamW and SGD. The optimizers come from
/// <see cref="OptimizerFactory"/> (so the weight-decay grouping is checked too) and the rates from the schedules.
/// </summary>
[Trait("Category", "Optimization")]
public sealed class OptimizerParityTests : TensorScopeTest
{
    const double Tolerance = 1e-6; // relative to the largest reference weight (and to the largest weight change)
    const double LossScale = 4.0;  // as in cases_optim.py
    readonly ITestOutputHelper _output;

    public OptimizerParityTests(ITestOutputHelper output)
    {
        _output = output;
    }

    [Fact]
    public void LambFromTheFactoryMatchesTimmsAlgorithm() => Check("optim_lamb",
        model => OptimizerFactory.Create(model.named_parameters(), new OptimizerRecipe { Kind = OptimizerKind.Lamb, LearningRate = 0.02, WeightDecay = 0.02 }),
        new WarmupCosineSchedule(6, 2, 0.02 * 0.25, 0));

    [Fact]
    public void LambWithTrustClipAlwaysAdaptAndNoInternalClipMatchesTimmsAlgorithm() => Check("optim_lambc",
        model =>
        {
            var groups = OptimizerFactory.GroupByWeightDecay(model.named_parameters(),
                new OptimizerRecipe { WeightDecay = 0.02, ExcludeOneDimensionalFromWeightDecay = false, NoWeightDecayNames = [] });
            Assert.Single(groups);
            return new Lamb(groups.Select(g => new Lamb.ParamGroup(g.Parameters, new Lamb.Options { WeightDecay = g.WeightDecay })),
                lr: 0.02, eps: 1e-6, maxGradNorm: null, trustClip: true, alwaysAdapt: true);
        },
        new WarmupCosineSchedule(6, 2, 0.02 * 0.25, 0));

    [Fact]
    public void AdamWFromTheFactoryMatchesPyTorch() => Check("optim_adamw",
        model => OptimizerFactory.Create(model.named_parameters(), new OptimizerRecipe { Kind = OptimizerKind.AdamW, LearningRate = 0.01, WeightDecay = 0.05 }),
        new WarmupCosineSchedule(6, 2, 0.01 * 1e-3, 1e-5));

    [Fact]
    public void NesterovSgdFromTheFactoryMatchesPyTorch() => Check("optim_sgd",
        model => OptimizerFactory.Create(model.named_parameters(), new OptimizerRecipe
        {
            Kind = OptimizerKind.Sgd, LearningRate = 0.1, WeightDecay = 1e-4, Momentum = 0.9, Nesterov = true,
            ExcludeOneDimensionalFromWeightDecay = false, NoWeightDecayNames = [],
        }),
        new StepDecaySchedule([2, 4], 0.1));

    void Check(string fixtureName, Func<TinyTokenNet, OptimizerHelper> createOptimizer, ILearningRateSchedule schedule)
    {
        using var fixture = ParityFixture.Load(fixtureName);
        var model = new TinyTokenNet();
        StateDicts.LoadStrict(model, fixture.Parameters(), fixtureName);
        using var optimizer = createOptimizer(model);
        var xs = fixture.Input("x");
        var ys = fixture.Input("y");
        var lrs = fixture.Input("lr");
        var losses = fixture.Output("loss");
        var steps = xs.shape[0];

        for (var step = 0; step < steps; step++)
        {
            using var stepScope = NewDisposeScope();
            schedule.Apply(optimizer, step);
            var expectedLr = lrs[step].item<double>();
            foreach (var group in optimizer.ParamGroups)
                Assert.Equal(expectedLr, group.LearningRate, expectedLr * 1e-14);
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.forward(xs[step]), ys[step]) * LossScale;
            ParityAssert.Relative(losses[step], loss, $"{fixtureName} loss before step {step}", 1e-5);
            loss.backward();
            optimizer.step();
        }

        var worstWeight = 0.0;
        var worstChange = 0.0;
        foreach (var (name, actual) in model.state_dict())
        {
            var expected = fixture.Output(name);
            worstWeight = Math.Max(worstWeight, ParityAssert.Relative(expected, actual, $"{fixtureName} {name}", Tolerance));
            // The change is what the optimizer computed; comparing it alone keeps a wrong update from hiding in the weights.
            var initial = fixture[$"param.{name}"];
            worstChange = Math.Max(worstChange,
                ParityAssert.Relative(expected - initial, actual.detach() - initial, $"{fixtureName} Δ{name}", 1e-5));
        }
        _output.WriteLine($"{fixtureName}: largest weight error {worstWeight:E2} (relative to the largest weight), largest change error {worstChange:E2} (relative to the largest change)");
    }
}
