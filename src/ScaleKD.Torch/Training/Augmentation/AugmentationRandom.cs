using static TorchSharp.torch;

namespace ScaleKD.Torch.Training.Augmentation;

/// <summary>
/// The source of every random decision of the augmentation (crop boxes, flips, RandAugment ops, magnitudes and signs,
/// erasing boxes) and of the seeds of the <see cref="Generator"/>s that draw tensor noise.
/// </summary>
/// <remarks>
/// A SplitMix64 stream rather than <see cref="System.Random"/>: its sequence is fixed by this code, not by the .NET
/// runtime, so a checkpoint resumed on another runtime re-creates the same augmentation. One instance serves one batch;
/// <see cref="ForBatch"/> derives it from (seed, epoch, batch index) alone, so a batch's augmentation never depends on
/// how many other batches were drawn before it. The decisions do not depend on the device either: only the noise drawn
/// by a device's own generator does (a CUDA generator yields other numbers than a CPU one for the same seed).
/// </remarks>
public sealed class AugmentationRandom
{
    const ulong Golden = 0x9E3779B97F4A7C15UL;
    ulong _state;

    /// <summary>A stream that starts from <paramref name="seed"/>.</summary>
    public AugmentationRandom(ulong seed) => _state = seed;

    /// <summary>The stream of one batch, a function of the run's seed, the epoch and the batch's index in the epoch.</summary>
    public static AugmentationRandom ForBatch(long seed, int epoch, long batchIndex)
    {
        // Each coordinate goes through the mixer before the next joins, so (1, 2) and (2, 1) give unrelated streams.
        var state = Mix((ulong)seed + Golden);
        state = Mix(state ^ ((ulong)(uint)epoch + Golden));
        state = Mix(state ^ ((ulong)batchIndex + Golden));
        return new AugmentationRandom(state);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        _state += Golden;
        return Mix(_state);
    }

    /// <summary>A uniform double in [0, 1), with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>A uniform double in [<paramref name="min"/>, <paramref name="max"/>), as Python's random.uniform.</summary>
    public double Uniform(double min, double max) => min + (max - min) * NextDouble();

    /// <summary>A uniform integer in [<paramref name="min"/>, <paramref name="max"/>], both ends included, as Python's random.randint.</summary>
    public int NextInt(int min, int max)
    {
        if (max < min)
            throw new ArgumentOutOfRangeException(nameof(max), $"The range [{min}, {max}] is empty.");
        var span = (ulong)((long)max - min + 1);
        // Multiply-shift maps 64 random bits onto the span; the bias is below 2^-32 for any span an image has.
        return (int)(min + (long)(ulong)(((UInt128)NextUInt64() * span) >> 64));
    }

    /// <summary>True with probability <paramref name="probability"/>.</summary>
    public bool Chance(double probability) => NextDouble() < probability;

    /// <summary>A normal draw with the given mean and standard deviation (Box–Muller; one draw per call keeps the stream simple).</summary>
    public double Gaussian(double mean, double std)
    {
        var u1 = 1.0 - NextDouble(); // in (0, 1], so the logarithm is finite
        var u2 = NextDouble();
        return mean + std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    /// <summary>
    /// A new <see cref="Generator"/> on <paramref name="device"/>, seeded from this stream, for tensor noise drawn on
    /// the device itself. The caller disposes it.
    /// </summary>
    public Generator CreateGenerator(Device device) => new(NextUInt64(), device);

    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
