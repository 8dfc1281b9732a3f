using ScaleKD.Torch.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Precision;

/// <summary>
/// Manual bfloat16 mixed precision for a student, the recipe autocast automates (TorchSharp 0.107 has no autocast):
/// float32 master weights, which the optimizer updates and which are saved; a bfloat16 working copy that runs the
/// forward and backward pass; its gradients applied to the masters in float32. bfloat16 has float32's exponent range,
/// so no loss scaling is needed. Normalisation layers stay in float32 in the working copy: libtorch's batch and layer
/// norm take bfloat16 input with float32 weights and statistics, so the running statistics accumulate in float32.
/// </summary>
/// <remarks>
/// One step: <see cref="PullWeights"/> (masters → working copy), the objective's forward and backward through
/// <see cref="Working"/>, <see cref="PushGradients"/> (working gradients → masters, norm statistics → masters), then
/// clipping and the optimizer step on the masters as in float32 training.
/// </remarks>
public sealed class BFloat16Student : IDisposable
{
    readonly VisionModel _twin;
    readonly List<(Tensor Master, Tensor Working)> _parameters;
    readonly List<(Tensor Master, Tensor Working)> _buffers;

    /// <param name="master">The float32 student; the working copy is built from its registered name and options on its device.</param>
    public BFloat16Student(VisionModel master)
    {
        ArgumentNullException.ThrowIfNull(master);
        Master = master;
        var device = master.parameters().First().device;
        // The copy's own random initialisation is overwritten at once; it must not move the process's random stream,
        // or turning bfloat16 on would change the projectors' initial weights and the data order.
        var randomState = torch.get_rng_state();
        _twin = ModelRegistry.Create(master.GetName(), master.Options);
        torch.set_rng_state(randomState);
        _twin.to(device).to(ScalarType.BFloat16);
        foreach (var module in _twin.modules().Where(IsNormalization))
            module.to(ScalarType.Float32);
        _parameters = Pair(master.named_parameters().Select(p => ((string, Tensor))p), _twin.named_parameters().Select(p => ((string, Tensor))p));
        _buffers = Pair(master.named_buffers(), _twin.named_buffers());
        _twin.train(master.training);
        Working = new BFloat16View(_twin);
        PullWeights();
    }

    /// <summary>The float32 student: the optimizer's parameters, evaluated and saved.</summary>
    public VisionModel Master { get; }

    /// <summary>The bfloat16 working copy itself (tests look at its dtypes).</summary>
    internal VisionModel WorkingModel => _twin;

    /// <summary>The student the objective calls: takes images in any dtype, computes in bfloat16, returns float32
    /// features and logits, so every loss is computed in float32.</summary>
    public VisionModel Working { get; }

    /// <summary>Copies the master weights and norm statistics into the working copy, rounding to its dtypes.</summary>
    public void PullWeights()
    {
        using var noGrad = no_grad();
        foreach (var (master, working) in _parameters.Concat(_buffers))
            working.copy_(master);
        _twin.train(Master.training);
    }

    /// <summary>Moves the working copy's gradients onto the masters in float32 (replacing theirs), clears the working
    /// gradients, and copies the norm statistics the forward pass updated back to the masters.</summary>
    public void PushGradients()
    {
        using var noGrad = no_grad();
        foreach (var (master, working) in _parameters)
        {
            var gradient = working.grad;
            if (gradient is null)
                continue;
            master.grad = gradient.to(master.dtype);
        }
        _twin.zero_grad();
        foreach (var (master, working) in _buffers)
            master.copy_(working);
    }

    /// <inheritdoc />
    public void Dispose() => _twin.Dispose();

    static bool IsNormalization(nn.Module module) => module is BatchNorm2d or LayerNorm or LayerNorm2d;

    static List<(Tensor Master, Tensor Working)> Pair(IEnumerable<(string Name, Tensor Tensor)> master, IEnumerable<(string Name, Tensor Tensor)> working)
    {
        var byName = working.ToDictionary(p => p.Name, p => p.Tensor);
        return master.Select(p => (p.Tensor, byName.TryGetValue(p.Name, out var w)
            ? w
            : throw new InvalidOperationException($"The bfloat16 working copy has no '{p.Name}'."))).ToList();
    }

    /// <summary>The working copy seen as a float32 model: inputs cast to bfloat16, outputs back to float32; the casts
    /// are differentiable, so gradients reach the working copy's weights.</summary>
    sealed class BFloat16View(VisionModel model) : VisionModel(model.GetName(), model.Options)
    {
        public override ModelFamily Family => model.Family;
        public override int NumFeatures => model.NumFeatures;
        public override nn.Module<Tensor, Tensor> Classifier => model.Classifier;
        public override IReadOnlyList<StageShape> StageShapes() => model.StageShapes();

        public override StageFeatures ForwardStages(Tensor images)
        {
            var features = model.ForwardStages(images.to(ScalarType.BFloat16));
            return new StageFeatures(features.Stages.Select(ToFloat32).ToList(), ToFloat32(features.PreLogits), ToFloat32(features.Logits));
        }

        static Tensor ToFloat32(Tensor t) => t.to(ScalarType.Float32);
    }
}
