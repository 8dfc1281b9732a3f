namespace ScaleKD.Torch.Training.Optimization;

/// <summary>
/// Settings of <see cref="ModelEma"/>, with timm's <c>ModelEmaV3</c> meaning. The defaults are the official advanced
/// recipe: mmcls's <c>EMAHook(momentum=1e-4)</c>, i.e. decay 0.9999, without decay warm-up (timm's train.py uses 0.9998).
/// </summary>
public sealed record ModelEmaOptions
{
    /// <summary>No EMA, even where the recipe keeps one.</summary>
    public static ModelEmaOptions Off { get; } = new() { Enabled = false };

    /// <summary>The recipe's EMA for ViT, Swin and ConvNeXt students: decay 0.9999 with timm's decay warm-up, so that
    /// short runs benefit too.</summary>
    public static ModelEmaOptions Recipe { get; } = new() { Decay = 0.9999, UseWarmup = true };

    /// <summary>False: no EMA at all (<see cref="Off"/>). Default true.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>The decay d in ema ← d·ema + (1 − d)·model, or its ceiling with warm-up. Default 0.9999.</summary>
    public double Decay { get; init; } = 0.9999;

    /// <summary>The floor of the warmed-up decay. Default 0.</summary>
    public double MinDecay { get; init; }

    /// <summary>Updates that just copy the model before averaging starts (timm's <c>update_after_step</c>). Default 0:
    /// only the first update copies.</summary>
    public long UpdateAfterStep { get; init; }

    /// <summary>Warm the decay up as 1 − (1 + t/γ)^(−p), capped at <see cref="Decay"/>. Default false.</summary>
    public bool UseWarmup { get; init; }

    /// <summary>γ of the warm-up. Default 1.</summary>
    public double WarmupGamma { get; init; } = 1.0;

    /// <summary>p of the warm-up; 2/3 suits runs of a million steps, 3/4 shorter ones (timm). Default 2/3.</summary>
    public double WarmupPower { get; init; } = 2.0 / 3.0;

    /// <summary>Copy buffers (e.g. BatchNorm running statistics) instead of averaging them, as mmcls's EMA does and
    /// timm's <c>exclude_buffers</c>. Default false (timm averages them). Integer buffers are always copied.</summary>
    public bool ExcludeBuffers { get; init; }

    /// <summary>
    /// The decay of update number <paramref name="update"/> (1 for the first), as timm's <c>get_decay(step)</c>:
    /// t = max(0, update − <see cref="UpdateAfterStep"/> − 1); 0 (a copy) when t = 0; otherwise <see cref="Decay"/>,
    /// or with warm-up clamp(1 − (1 + t/γ)^(−p), <see cref="MinDecay"/>, <see cref="Decay"/>).
    /// </summary>
    public double DecayAt(long update)
    {
        var t = Math.Max(0, update - UpdateAfterStep - 1);
        if (t == 0)
            return 0;
        if (!UseWarmup)
            return Decay;
        var warmedUp = 1 - Math.Pow(1 + t / WarmupGamma, -WarmupPower);
        return Math.Max(Math.Min(warmedUp, Decay), MinDecay);
    }
}
