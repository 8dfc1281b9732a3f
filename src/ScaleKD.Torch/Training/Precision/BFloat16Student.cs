using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Precision;

/// <summary>
/// Manual bfloat16 mixed precision for what training updates, the student and its objective's projectors: the recipe
/// autocast automates, which TorchSharp 0.107 lacks. Float32 master weights are what the optimizer updates and what is
/// saved; bfloat16 working copies run the forward and backward pass; their gradients are applied to the masters in
/// float32. bfloat16 has float32's exponent range, so no loss scaling is needed. Batch norm stays in float32 in the
/// working copies (libtorch takes bfloat16 input with float32 weights and statistics), so the running statistics
/// accumulate in float32; layer norm computes its statistics in float32 inside the kernel either way. The losses are computed in float32 (the student's features and logits
/// leave the working copy in float32).
/// </summary>
/// <remarks>
/// One step: <see cref="PullWeights"/> (masters → working copies), the working objective's forward and backward,
/// <see cref="PushGradients"/> (working gradients → masters, norm statistics → masters), then clipping and the
/// optimizer step on the masters exactly as in float32 training.
/// </remarks>
public sealed class BFloat16Student : IDisposable
{
    readonly VisionModel _twin;
    readonly List<WeightPair> _pairs = [];
    DistillationObjective? _workingObjective;

    /// <param name="master">The float32 student; the working copy is built from its registered name and options on its device.</param>
    public BFloat16Student(VisionModel master)
    {
        ArgumentNullException.ThrowIfNull(master);
        Master = master;
        var device = master.parameters().First().device;
        // Building the copy draws its (overwritten) initial weights from the random stream like any model creation, so
        // a seeded run stays reproducible. The stream is not saved and restored around it: that would rewind whatever
        // another thread drew in between.
        _twin = ModelRegistry.Create(master.GetName(), master.Options);
        _twin.to(device);
        _pairs.Add(new WeightPair(master, _twin));
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

    /// <summary>
    /// Makes the bfloat16 working copy of an objective whose float32 <paramref name="master"/> the optimizer updates:
    /// <paramref name="create"/> builds the same objective around <see cref="Working"/>, and from then on its
    /// projectors take part in <see cref="PullWeights"/> and <see cref="PushGradients"/>.
    /// </summary>
    /// <returns>The objective to compute the loss with.</returns>
    public DistillationObjective AttachObjective(DistillationObjective master, Func<VisionModel, DistillationObjective> create)
    {
        if (_workingObjective is not null)
            throw new InvalidOperationException("An objective is already attached.");
        _workingObjective = create(Working);
        _workingObjective.to(master.parameters().FirstOrDefault()?.device ?? Master.parameters().First().device);
        _pairs.Add(new WeightPair(master, _workingObjective));
        PullWeights();
        return _workingObjective;
    }

    /// <summary>Copies the master weights and norm statistics into the working copies, rounding to their dtypes.</summary>
    public void PullWeights()
    {
        using var noGrad = no_grad();
        foreach (var pair in _pairs)
            pair.Pull();
    }

    /// <summary>Moves the working copies' gradients onto the masters in float32 (replacing theirs), clears the working
    /// gradients, and copies the norm statistics the forward pass updated back to the masters.</summary>
    public void PushGradients()
    {
        using var noGrad = no_grad();
        foreach (var pair in _pairs)
            pair.Push();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _workingObjective?.Dispose();
        _twin.Dispose();
    }

    /// <summary>One master module and its working copy, converted to bfloat16 but for its normalisation layers, with
    /// their parameters and buffers paired by name.</summary>
    sealed class WeightPair
    {
        readonly nn.Module _master;
        readonly nn.Module _working;
        readonly List<(Tensor Master, Tensor Working)> _parameters;
        readonly List<(Tensor Master, Tensor Working)> _buffers;

        public WeightPair(nn.Module master, nn.Module working)
        {
            _master = master;
            _working = working;
            working.to(ScalarType.BFloat16);
            foreach (var module in working.modules().Where(IsNormalization))
                module.to(ScalarType.Float32);
            _parameters = Pair(master.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), working.named_parameters().Select(p => (p.name, (Tensor)p.parameter)));
            _buffers = Pair(master.named_buffers(), working.named_buffers());
        }

        public void Pull()
        {
            foreach (var (master, working) in _parameters.Concat(_buffers))
                working.copy_(master);
            _working.train(_master.training);
        }

        public void Push()
        {
            foreach (var (master, working) in _parameters)
                if (working.grad is { } gradient)
                    master.grad = gradient.to(master.dtype);
            _working.zero_grad();
            foreach (var (master, working) in _buffers)
                master.copy_(working);
        }

        // Batch norm keeps float32 weights and running statistics (libtorch takes bfloat16 input with them on CPU and
        // CUDA). Layer norm has no running statistics, computes its per-token mean and variance in float32 internally,
        // and on CUDA needs weights of its input's dtype, so it runs in bfloat16 like everything else.
        static bool IsNormalization(nn.Module module) => module is BatchNorm2d;

        static List<(Tensor Master, Tensor Working)> Pair(IEnumerable<(string Name, Tensor Tensor)> master, IEnumerable<(string Name, Tensor Tensor)> working)
        {
            var byName = working.ToDictionary(p => p.Name, p => p.Tensor);
            return master.Select(p => (p.Tensor, byName.TryGetValue(p.Name, out var w)
                ? w
                : throw new InvalidOperationException($"The bfloat16 working copy has no '{p.Name}'."))).ToList();
        }
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
