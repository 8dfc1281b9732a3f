using ScaleKD.Torch.Training.Optimization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>EMA arithmetic on a two-parameter model (plus a float and an integer buffer), decay warm-up, save/load.</summary>
[Trait("Category", "Optimization")]
public sealed class ModelEmaTests : TensorScopeTest
{
    sealed class TwoParameterModel : nn.Module
    {
        readonly Parameter a = nn.Parameter(tensor(new[] { 1f }));
        readonly Parameter b = nn.Parameter(tensor(new[] { 2f, -2f }));
        readonly Tensor running = tensor(new[] { 0f });
        readonly Tensor count = tensor(0L);

        public TwoParameterModel() : base(nameof(TwoParameterModel)) => RegisterComponents();
    }

    static void Set(nn.Module model, string name, params float[] values)
    {
        using var _ = no_grad();
        model.state_dict()[name].copy_(tensor(values).reshape(model.state_dict()[name].shape));
    }

    static float[] Values(nn.Module model, string name) => model.state_dict()[name].to(float32).data<float>().ToArray();

    [Fact]
    public void TheFirstUpdateCopiesThenEachUpdateMixesInOneMinusDecayOfTheModel()
    {
        var model = new TwoParameterModel();
        using var ema = new ModelEma(model, () => new TwoParameterModel(), new ModelEmaOptions { Decay = 0.9 });
        Set(model, "a", 3f);
        Set(model, "b", 4f, -4f);
        Set(model, "running", 10f);
        Set(model, "count", 1);
        ema.Update(model); // update 1: decay 0, a copy
        Assert.Equal([3f], Values(ema.Module, "a"));
        Assert.Equal([10f], Values(ema.Module, "running"));

        Set(model, "a", 5f);
        Set(model, "b", 0f, 0f);
        Set(model, "running", 20f);
        Set(model, "count", 2);
        ema.Update(model); // 0.9·3 + 0.1·5 = 3.2; 0.9·4 = 3.6; 0.9·10 + 0.1·20 = 11; integers are copied
        ema.Update(model); // 0.9·3.2 + 0.1·5 = 3.38; 0.9·3.6 = 3.24; 0.9·11 + 0.1·20 = 11.9
        Assert.Equal(3.38f, Values(ema.Module, "a")[0], 1e-6f);
        Assert.Equal(3.24f, Values(ema.Module, "b")[0], 1e-6f);
        Assert.Equal(-3.24f, Values(ema.Module, "b")[1], 1e-6f);
        Assert.Equal(11.9f, Values(ema.Module, "running")[0], 1e-5f);
        Assert.Equal(2, ema.Module.state_dict()["count"].item<long>());
        Assert.Equal(3, ema.Updates);
        Assert.Equal([5f], Values(model, "a")); // the model itself is untouched
    }

    [Fact]
    public void ExcludedBuffersAreCopiedNotAveraged()
    {
        var model = new TwoParameterModel();
        using var ema = new ModelEma(model, () => new TwoParameterModel(), new ModelEmaOptions { Decay = 0.5, ExcludeBuffers = true });
        ema.Update(model);
        Set(model, "a", 3f);
        Set(model, "running", 8f);
        ema.Update(model);
        Assert.Equal([2f], Values(ema.Module, "a"));
        Assert.Equal([8f], Values(ema.Module, "running"));
    }

    [Fact]
    public void TheAverageIsAnEvalModeCopyWithoutGradientsAndIndependentStorage()
    {
        var model = new TwoParameterModel();
        using var ema = new ModelEma(model, () => new TwoParameterModel());
        Assert.False(ema.Module.training);
        Assert.All(ema.Module.parameters(), p => Assert.False(p.requires_grad));
        Set(model, "a", 7f);
        Assert.Equal([1f], Values(ema.Module, "a"));
    }

    [Theory]
    [InlineData(1, 0.0)]                    // the first update copies
    [InlineData(2, 0.3700394750525634)]     // t = 1: 1 − 2^(−2/3)
    [InlineData(9, 0.7688795752164551)]     // t = 8: 1 − 9^(−2/3)
    [InlineData(1_000_000, 0.9999)]         // capped at the decay
    public void WarmedUpDecayFollowsTimm(long update, double expected) =>
        Assert.Equal(expected, new ModelEmaOptions { UseWarmup = true }.DecayAt(update), 1e-12);

    [Fact]
    public void UpdatesBeforeUpdateAfterStepCopy()
    {
        var options = new ModelEmaOptions { Decay = 0.99, UpdateAfterStep = 3 };
        Assert.Equal([0.0, 0.0, 0.0, 0.0, 0.99], Enumerable.Range(1, 5).Select(u => options.DecayAt(u)));
    }

    [Fact]
    public void SaveAndLoadRestoreTheAverageAndItsUpdateCount()
    {
        var model = new TwoParameterModel();
        using var ema = new ModelEma(model, () => new TwoParameterModel(), new ModelEmaOptions { Decay = 0.9 });
        ema.Update(model);
        Set(model, "a", 9f);
        ema.Update(model);
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
            ema.Save(writer);

        var other = new TwoParameterModel();
        Set(other, "a", -4f);
        using var restored = new ModelEma(other, () => new TwoParameterModel(), new ModelEmaOptions { Decay = 0.9 });
        stream.Position = 0;
        using (var reader = new BinaryReader(stream))
            restored.Load(reader);
        Assert.Equal(2, restored.Updates);
        BitIdentical.AssertStates(ema.Module, restored.Module, "restored EMA");
    }

    [Fact]
    public void AFactoryForADifferentArchitectureIsRejected()
    {
        var model = new TwoParameterModel();
        var error = Assert.Throws<ArgumentException>(() => new ModelEma(model, () => new TinyTokenNet()));
        Assert.Contains("'a' missing from the copy", error.Message);
    }
}
