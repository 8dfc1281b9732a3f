using ScaleKD.Torch.Models;
using ScaleKD.Torch.Weights;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Weights;

/// <summary>Published checkpoints often lack BatchNorm's <c>num_batches_tracked</c> counters; PyTorch loads them
/// strictly all the same, keeping the module's counters. Every other missing key is still refused.</summary>
[Trait("Category", "Models")]
public sealed class BatchNormCounterTests : TensorScopeTest
{
    readonly string _work = Directory.CreateTempSubdirectory("scalekd-weights-").FullName;

    static readonly ModelOptions Options = new(NumClasses: 10, ImageSize: 32);

    /// <summary>A resnet_pico whose BatchNorm layers have seen <paramref name="steps"/> training batches.</summary>
    static VisionModel Trained(int seed, int steps)
    {
        manual_seed(seed);
        var model = ModelRegistry.Create("resnet_pico", Options);
        model.train();
        for (var i = 0; i < steps; i++)
            model.ForwardStages(randn(4, 3, 32, 32));
        model.eval();
        return model;
    }

    string WithoutKeys(VisionModel model, Func<string, bool> drop)
    {
        var path = Path.Combine(_work, $"{Guid.NewGuid():N}.safetensors");
        var state = model.state_dict().Where(p => !drop(p.Key)).ToDictionary(p => p.Key, p => p.Value);
        Safetensors.SaveStateDict(path, state);
        return path;
    }

    static bool IsCounter(string key) => key.EndsWith(".num_batches_tracked", StringComparison.Ordinal);

    [Fact]
    public void AFileWithoutTheCountersLoadsEverythingElseAndKeepsTheModulesCounters()
    {
        using var source = Trained(seed: 1, steps: 1);
        var counters = source.state_dict().Keys.Where(IsCounter).ToList();
        Assert.NotEmpty(counters);
        var path = WithoutKeys(source, IsCounter);

        using var target = Trained(seed: 2, steps: 3);
        SafetensorsWeights.Load(target, path);

        Assert.True(StateDicts.Compare(target, SafetensorsWeights.Read(path)).IsEmpty);
        var sourceState = source.state_dict();
        foreach (var (key, value) in target.state_dict())
        {
            if (IsCounter(key))
                Assert.Equal(3L, value.item<long>());
            else
                Assert.True(value.eq(sourceState[key]).all().item<bool>(), $"{key} was not loaded");
        }
        Assert.Equal(StateDicts.OptionalKeys(target).Order(StringComparer.Ordinal), counters.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void EveryOtherMissingKeyIsStillRefusedAndNamed()
    {
        using var source = Trained(seed: 1, steps: 1);
        const string runningMean = "layer1.0.bn1.running_mean";
        const string weight = "fc.weight";
        var path = WithoutKeys(source, key => IsCounter(key) || key is runningMean or weight);

        using var target = Trained(seed: 2, steps: 0);
        var before = target.state_dict()[weight].clone();
        var error = Assert.Throws<InvalidDataException>(() => SafetensorsWeights.Load(target, path));

        Assert.Contains($"missing keys: {weight}, {runningMean}", error.Message);
        Assert.DoesNotContain("num_batches_tracked", error.Message);
        Assert.True(target.state_dict()[weight].eq(before).all().item<bool>(), "nothing is copied when a key is missing");
    }

    public override void Dispose()
    {
        Directory.Delete(_work, recursive: true);
        base.Dispose();
    }
}
