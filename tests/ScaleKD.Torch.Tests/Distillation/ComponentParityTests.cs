using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Tests.Parity;
using ScaleKD.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Distillation;

/// <summary>Each ScaleKD component against tests/reference/distill_ref.py, within 1e-5 absolute.</summary>
[Trait("Category", "Parity")]
public sealed class ComponentParityTests : TensorScopeTest
{
    [Theory]
    [InlineData("cap_self_query_bn", true, ProjectorStem.BatchNorm, 3, 5.0)]
    [InlineData("cap_input_query_bn", false, ProjectorStem.BatchNorm, 3, 5.0)]
    [InlineData("cap_self_query_ln", true, ProjectorStem.LayerNorm, 3, 1.0)]
    [InlineData("cap_input_query_bn_downgrid", false, ProjectorStem.BatchNorm, 2, 5.0)]
    public void CrossAttentionProjectorMatchesTheReference(string fixtureName, bool selfQuery, ProjectorStem stem, int queryGrid, double softmaxScale)
    {
        using var fixture = ParityFixture.Load(fixtureName);
        var cap = new CrossAttentionProjector(new CrossAttentionProjectorOptions(12, 6, 6, 16, queryGrid, queryGrid, 4, softmaxScale, stem, selfQuery));
        StateDicts.LoadStrict(cap, fixture.Parameters(), fixtureName);
        cap.train();

        var x = fixture.Input("x").clone().requires_grad_(true);
        var queries = selfQuery ? null : fixture.Input("queries").clone().requires_grad_(true);
        var tokens = cap.forward(x, queries);
        ParityAssert.Absolute(fixture.Output("tokens"), tokens, "CAP output");

        (tokens * fixture.Input("out_weights")).sum().backward();
        ParityAssert.Absolute(fixture.Grad("x"), x.grad!, "CAP d/d(student map)");
        if (queries is not null)
            ParityAssert.Absolute(fixture.Grad("queries"), queries.grad!, "CAP d/d(queries)");
    }

    [Theory]
    [InlineData(DcRemoval.MeanSubtraction)]
    [InlineData(DcRemoval.ExplicitDct)]
    public void BothFeatureMimickingViewsMatchTheReference(DcRemoval dcRemoval)
    {
        using var fixture = ParityFixture.Load("dfm_views");
        var loss = new DualViewFeatureLoss(0.08, 0.06, dcRemoval);
        var student = fixture.Input("student").clone().requires_grad_(true);
        var teacher = fixture.Input("teacher");
        var spatial = loss.Spatial(student, teacher);
        var frequency = loss.Frequency(student, teacher);
        ParityAssert.Absolute(fixture.Output("spatial"), spatial, "DFM spatial view");
        ParityAssert.Absolute(fixture.Output("frequency"), frequency, $"DFM frequency view ({dcRemoval})");
        (spatial + frequency).backward();
        ParityAssert.Absolute(fixture.Grad("student"), student.grad!, "DFM d/d(student)");
    }

    [Fact]
    public void TheDctBasisEqualsTheOfficialFftDct()
    {
        using var fixture = ParityFixture.Load("dfm_views");
        var signal = fixture.Input("signal");
        var basis = Dct2d.Basis(signal.shape[1]).to(float32);
        ParityAssert.Absolute(fixture.Output("dct"), signal.matmul(basis.t()), "DCT-II basis vs FFT DCT", 1e-4);
    }

    [Fact]
    public void LogitLossesMatchTheReference()
    {
        using var fixture = ParityFixture.Load("logit_losses");
        var teacher = fixture.Input("teacher_logits");
        (string Name, Func<Tensor, Tensor> Loss)[] losses =
        [
            ("kd", s => SoftTargetLoss.Compute(s, teacher, 1.0)),
            ("kd_t4", s => SoftTargetLoss.Compute(s, teacher, 4.0)),
            ("dist", s => DistRelationLoss.Compute(s, teacher)),
        ];
        foreach (var (name, compute) in losses)
        {
            var student = fixture.Input("student_logits").clone().requires_grad_(true);
            var value = compute(student);
            ParityAssert.Absolute(fixture.Output(name), value, $"{name} loss");
            value.backward();
            ParityAssert.Absolute(fixture.Grad(name), student.grad!, $"{name} d/d(student logits)");
        }
    }

    [Fact]
    public void FitNetHintMatchesTheReference()
    {
        using var fixture = ParityFixture.Load("fitnet");
        var fitnet = new FitNetLoss(6, 10);
        StateDicts.LoadStrict(fitnet, fixture.Parameters(), "fitnet");
        var student = fixture.Input("student").clone().requires_grad_(true);
        var loss = fitnet.forward(student, fixture.Input("teacher"));
        ParityAssert.Absolute(fixture.Output("loss"), loss, "FitNet loss");
        loss.backward();
        ParityAssert.Absolute(fixture.Grad("student"), student.grad!, "FitNet d/d(student)");
    }
}
