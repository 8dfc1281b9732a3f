using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Optimization;

/// <summary>
/// LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning") with the semantics of timm's <c>Lamb</c>, which
/// the official ScaleKD code copies for its ResNet-50 recipe:
/// <list type="number">
/// <item>optionally, every gradient is divided by max(1, ‖g‖/<see cref="MaxGradNorm"/>), ‖g‖ over all parameters;</item>
/// <item>Adam moments m ← β1·m + (1−β1)·g (just g without grad averaging), v ← β2·v + (1−β2)·g², with bias correction;</item>
/// <item>update u = (m/c1) / (√(v/c2) + ε), plus wd·w when the group has weight decay (L2 inside the update);</item>
/// <item>on groups with weight decay (or always, with always-adapt) u is scaled by the trust ratio ‖w‖/‖u‖, 1 where
/// either norm is 0, and at most 1 with trust clipping (LAMBC);</item>
/// <item>w ← w − lr·u.</item>
/// </list>
/// Decoupled decay and "caution", newer timm options, are not implemented. The step count lives in each parameter's
/// <see cref="State"/> and advances for every parameter of a group on every step, as timm's group step does.
/// State saves and loads exactly through <see cref="OptimizerHelper.save_state_dict(BinaryWriter)"/>.
/// </summary>
public sealed class Lamb : OptimizerHelper
{
    /// <summary>LAMB over one group of parameters.</summary>
    /// <param name="parameters">The parameters to optimise.</param>
    /// <param name="lr">Learning rate.</param>
    /// <param name="beta1">Decay of the first moment.</param>
    /// <param name="beta2">Decay of the second moment.</param>
    /// <param name="eps">Added to the denominator; timm's default 1e-6.</param>
    /// <param name="weightDecay">L2 weight decay added to the update (timm default 0.01).</param>
    /// <param name="biasCorrection">Apply Adam's bias correction.</param>
    /// <param name="gradAveraging">Scale the gradient by 1−β1 in the first moment.</param>
    /// <param name="maxGradNorm">Global gradient-norm clip applied inside the step; null turns it off (timm default 1.0).</param>
    /// <param name="trustClip">Clip the trust ratio at 1 (LAMBC).</param>
    /// <param name="alwaysAdapt">Apply the trust ratio also to groups without weight decay.</param>
    public Lamb(IEnumerable<Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-6,
        double weightDecay = 0.01, bool biasCorrection = true, bool gradAveraging = true, double? maxGradNorm = 1.0,
        bool trustClip = false, bool alwaysAdapt = false)
        : this([new ParamGroup(parameters.ToList(), new Options())], lr, beta1, beta2, eps, weightDecay, biasCorrection, gradAveraging,
            maxGradNorm, trustClip, alwaysAdapt)
    {
    }

    /// <summary>LAMB over parameter groups; settings a group's <see cref="Options"/> leave null come from the arguments.</summary>
    /// <param name="groups">The parameter groups.</param>
    /// <param name="lr">Learning rate.</param>
    /// <param name="beta1">Decay of the first moment.</param>
    /// <param name="beta2">Decay of the second moment.</param>
    /// <param name="eps">Added to the denominator; timm's default 1e-6.</param>
    /// <param name="weightDecay">L2 weight decay added to the update (timm default 0.01).</param>
    /// <param name="biasCorrection">Apply Adam's bias correction.</param>
    /// <param name="gradAveraging">Scale the gradient by 1−β1 in the first moment.</param>
    /// <param name="maxGradNorm">Global gradient-norm clip applied inside the step; null turns it off (timm default 1.0).</param>
    /// <param name="trustClip">Clip the trust ratio at 1 (LAMBC).</param>
    /// <param name="alwaysAdapt">Apply the trust ratio also to groups without weight decay.</param>
    public Lamb(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-6,
        double weightDecay = 0.01, bool biasCorrection = true, bool gradAveraging = true, double? maxGradNorm = 1.0,
        bool trustClip = false, bool alwaysAdapt = false)
    {
        if (lr < 0) throw new ArgumentOutOfRangeException(nameof(lr), lr, "The learning rate must not be negative.");
        if (eps < 0) throw new ArgumentOutOfRangeException(nameof(eps), eps, "ε must not be negative.");
        if (beta1 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "β1 must be in [0, 1).");
        if (beta2 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "β2 must be in [0, 1).");
        if (weightDecay < 0) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "Weight decay must not be negative.");
        if (maxGradNorm is <= 0) throw new ArgumentOutOfRangeException(nameof(maxGradNorm), maxGradNorm, "The gradient-norm clip must be positive (or null for none).");

        MaxGradNorm = maxGradNorm;
        _defaults = new Options
        {
            LearningRate = lr,
            InitialLearningRate = lr,
            Beta1 = beta1,
            Beta2 = beta2,
            Eps = eps,
            WeightDecay = weightDecay,
            BiasCorrection = biasCorrection,
            GradAveraging = gradAveraging,
            TrustClip = trustClip,
            AlwaysAdapt = alwaysAdapt,
        };
        _parameter_groups = new List<TorchSharp.Modules.ParamGroup>();
        foreach (var group in groups)
            add_param_group(group);
    }

    /// <summary>The global gradient-norm clip applied at the start of every step (timm's <c>max_grad_norm</c>, an
    /// optimizer-wide setting there too); null when off.</summary>
    public double? MaxGradNorm { get; }

    /// <summary>Adds a parameter group; its unset options are taken from the constructor's arguments.</summary>
    public override void add_param_group(TorchSharp.Modules.ParamGroup param_group)
    {
        var defaults = (Options)_defaults;
        param_group.Options ??= new Options();
        var options = (Options)param_group.Options;
        options.LearningRate ??= defaults.LearningRate;
        options.Beta1 ??= defaults.Beta1;
        options.Beta2 ??= defaults.Beta2;
        options.Eps ??= defaults.Eps;
        options.WeightDecay ??= defaults.WeightDecay;
        options.BiasCorrection ??= defaults.BiasCorrection;
        options.GradAveraging ??= defaults.GradAveraging;
        options.TrustClip ??= defaults.TrustClip;
        options.AlwaysAdapt ??= defaults.AlwaysAdapt;
        options.InitialLearningRate = options.LearningRate!.Value;

        // Materialised, because the optimizer walks the parameters on every step and keys state by their handles.
        param_group.Parameters = param_group.Parameters.ToList();
        _parameter_groups.Add(param_group);
        foreach (var parameter in param_group.Parameters)
        {
            var state = new State(parameter);
            state.Initialize(options);
            _state[parameter.Handle] = state;
        }
    }

    /// <summary>Performs one LAMB update of every parameter that has a gradient.</summary>
    /// <param name="closure">Optional closure that re-evaluates the model and returns the loss.</param>
    /// <returns>The closure's loss, or null.</returns>
    public override Tensor step(Func<Tensor>? closure = null)
    {
        Tensor? loss = null;
        if (closure is not null)
        {
            using var _ = enable_grad();
            loss = closure();
        }

        using (no_grad())
        using (NewDisposeScope())
        {
            var clipDivisor = GlobalClipDivisor();
            foreach (var group in _parameter_groups)
                StepGroup((Options)group.Options, group.Parameters, clipDivisor);
        }
        return loss!;
    }

    // max(1, ‖g‖/max_grad_norm), ‖g‖ the norm of the per-parameter norms, as timm computes it. Stays on the device.
    Tensor? GlobalClipDivisor()
    {
        if (MaxGradNorm is not { } maxNorm)
            return null;
        var gradients = parameters().Select(p => p.grad).OfType<Tensor>().ToList();
        return GradientNorm.Global(gradients) is { } norm ? (norm / maxNorm).clamp_min(1.0) : null;
    }

    void StepGroup(Options options, IEnumerable<Parameter> parameters, Tensor? clipDivisor)
    {
        var beta1 = options.Beta1!.Value;
        var beta2 = options.Beta2!.Value;
        var eps = options.Eps!.Value;
        var weightDecay = options.WeightDecay!.Value;
        var lr = options.LearningRate!.Value;
        var firstMomentGradScale = options.GradAveraging!.Value ? 1 - beta1 : 1.0;
        var adapt = weightDecay != 0 || options.AlwaysAdapt!.Value;

        foreach (var parameter in parameters)
        {
            var state = (State)_state[parameter.Handle];
            state.Step += 1;
            var grad = parameter.grad;
            if (grad is null)
                continue;
            if (clipDivisor is not null)
                grad.div_(clipDivisor); // in place, as timm: the clipped gradient is what remains in .grad

            var biasCorrection1 = options.BiasCorrection!.Value ? 1 - Math.Pow(beta1, state.Step) : 1.0;
            var biasCorrection2 = options.BiasCorrection!.Value ? 1 - Math.Pow(beta2, state.Step) : 1.0;
            state.ExpAvg.mul_(beta1).add_(grad, alpha: firstMomentGradScale);
            state.ExpAvgSq.mul_(beta2).addcmul_(grad, grad, value: 1 - beta2);
            var denominator = (state.ExpAvgSq.sqrt() / Math.Sqrt(biasCorrection2)).add_(eps);
            var update = (state.ExpAvg / biasCorrection1).div_(denominator);
            if (weightDecay != 0)
                update.add_(parameter, alpha: weightDecay);
            if (adapt)
            {
                var weightNorm = linalg.vector_norm(parameter);
                var updateNorm = linalg.vector_norm(update);
                var one = ones_like(weightNorm);
                var trustRatio = where(weightNorm > 0, where(updateNorm > 0, weightNorm / updateNorm, one), one);
                if (options.TrustClip!.Value)
                    trustRatio = trustRatio.clamp_max(1.0);
                update.mul_(trustRatio);
            }
            parameter.add_(update, alpha: -lr);
        }
    }

    /// <summary>Releases the moment tensors.</summary>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (!disposing)
            return;
        foreach (var (_, state) in _state)
            ((State)state).Dispose();
        _state.Clear();
    }

    /// <summary>The hyperparameters of one parameter group; null means "the optimizer's default".</summary>
    public sealed class Options : OptimizerOptions
    {
        /// <summary>Decay of the first moment.</summary>
        public double? Beta1 { get; set; }

        /// <summary>Decay of the second moment.</summary>
        public double? Beta2 { get; set; }

        /// <summary>Added to the denominator.</summary>
        public double? Eps { get; set; }

        /// <summary>L2 weight decay added to the update; 0 also turns the trust ratio off unless <see cref="AlwaysAdapt"/>.</summary>
        public double? WeightDecay { get; set; }

        /// <summary>Apply Adam's bias correction.</summary>
        public bool? BiasCorrection { get; set; }

        /// <summary>Scale the gradient by 1−β1 in the first moment.</summary>
        public bool? GradAveraging { get; set; }

        /// <summary>Clip the trust ratio at 1.</summary>
        public bool? TrustClip { get; set; }

        /// <summary>Apply the trust ratio even without weight decay.</summary>
        public bool? AlwaysAdapt { get; set; }

        /// <summary>Writes the group's hyperparameters (learning rates first, as TorchSharp's optimizers do).</summary>
        public override void SaveStateDict(BinaryWriter writer)
        {
            base.SaveStateDict(writer);
            writer.Write(Beta1!.Value);
            writer.Write(Beta2!.Value);
            writer.Write(Eps!.Value);
            writer.Write(WeightDecay!.Value);
            writer.Write(BiasCorrection!.Value);
            writer.Write(GradAveraging!.Value);
            writer.Write(TrustClip!.Value);
            writer.Write(AlwaysAdapt!.Value);
        }

        /// <summary>Reads what <see cref="SaveStateDict(BinaryWriter)"/> wrote.</summary>
        public override void LoadStateDict(BinaryReader reader)
        {
            base.LoadStateDict(reader);
            Beta1 = reader.ReadDouble();
            Beta2 = reader.ReadDouble();
            Eps = reader.ReadDouble();
            WeightDecay = reader.ReadDouble();
            BiasCorrection = reader.ReadBoolean();
            GradAveraging = reader.ReadBoolean();
            TrustClip = reader.ReadBoolean();
            AlwaysAdapt = reader.ReadBoolean();
        }

        /// <summary>Copies the hyperparameters of another LAMB group.</summary>
        public override void LoadStateDict(OptimizerOptions source)
        {
            base.LoadStateDict(source);
            var other = (Options)source;
            Beta1 = other.Beta1;
            Beta2 = other.Beta2;
            Eps = other.Eps;
            WeightDecay = other.WeightDecay;
            BiasCorrection = other.BiasCorrection;
            GradAveraging = other.GradAveraging;
            TrustClip = other.TrustClip;
            AlwaysAdapt = other.AlwaysAdapt;
        }
    }

    /// <summary>One parameter's LAMB state: its step count and both moments, on the parameter's device.</summary>
    public sealed class State : OptimizerState, IDisposable
    {
        /// <summary>Creates the (uninitialised) state of <paramref name="parameter"/>.</summary>
        public State(Parameter parameter) : base(parameter)
        {
        }

        /// <summary>Steps taken by the parameter's group.</summary>
        public long Step { get; set; }

        /// <summary>First moment m.</summary>
        public Tensor ExpAvg { get; private set; } = null!;

        /// <summary>Second moment v.</summary>
        public Tensor ExpAvgSq { get; private set; } = null!;

        /// <summary>Zero moments and step count.</summary>
        public override void Initialize(OptimizerOptions options)
        {
            DisposeTensors();
            Step = 0;
            ExpAvg = zeros_like(_parameter).DetachFromDisposeScope();
            ExpAvgSq = zeros_like(_parameter).DetachFromDisposeScope();
        }

        /// <summary>Writes the step count and both moments.</summary>
        public override void SaveStateDict(BinaryWriter writer)
        {
            writer.Write(Step);
            ExpAvg.Save(writer);
            ExpAvgSq.Save(writer);
        }

        /// <summary>Reads the step count and both moments in place (no new tensors, so no dispose scope can take them).</summary>
        public override void LoadStateDict(BinaryReader reader)
        {
            Step = reader.ReadInt64();
            ExpAvg.Load(reader);
            ExpAvgSq.Load(reader);
        }

        /// <summary>Copies another LAMB state in place.</summary>
        public override void LoadStateDict(OptimizerState source)
        {
            var other = (State)source;
            Step = other.Step;
            using var _ = no_grad();
            ExpAvg.copy_(other.ExpAvg);
            ExpAvgSq.copy_(other.ExpAvgSq);
        }

        /// <summary>True when the step counts agree and the moments are allclose.</summary>
        public override bool ApproximatelyEquals(OptimizerState other) =>
            other is State state && state.Step == Step && state.ExpAvg.allclose(ExpAvg) && state.ExpAvgSq.allclose(ExpAvgSq);

        /// <summary>Moves the moments to <paramref name="device"/>.</summary>
        public override void to(Device device)
        {
            ExpAvg = ExpAvg.to(device, disposeAfter: true).DetachFromDisposeScope();
            ExpAvgSq = ExpAvgSq.to(device, disposeAfter: true).DetachFromDisposeScope();
        }

        /// <summary>Releases the moments.</summary>
        public void Dispose() => DisposeTensors();

        void DisposeTensors()
        {
            ExpAvg?.Dispose();
            ExpAvgSq?.Dispose();
        }
    }

    /// <summary>A LAMB parameter group.</summary>
    public sealed class ParamGroup : ParamGroup<Options>
    {
        /// <summary>A group of <paramref name="parameters"/> with <paramref name="options"/> (unset values from the optimizer).</summary>
        public ParamGroup(IEnumerable<Parameter> parameters, Options? options = null) : base(parameters, options ?? new Options())
        {
        }
    }
}
