using ScaleKD.Torch.Training.Optimization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>
/// Resume is exact: N steps, a checkpoint (model weights, then optimizer, schedule position and EMA in one stream),
/// fresh objects restored from it, M more steps — bit-identical on the CPU to N + M uninterrupted steps.
/// </summary>
[Trait("Category", "Optimization")]
public sealed class OptimizerCheckpointTests : TensorScopeTest
{
    const int StepsBeforeSave = 4;
    const int StepsAfterSave = 5;

    static OptimizerRecipe RecipeFor(OptimizerKind kind) => kind switch
    {
        OptimizerKind.AdamW => new OptimizerRecipe { Kind = kind, LearningRate = 0.01, WeightDecay = 0.05 },
        OptimizerKind.Lamb => new OptimizerRecipe { Kind = kind, LearningRate = 0.02, WeightDecay = 0.02 },
        _ => new OptimizerRecipe { Kind = kind, LearningRate = 0.1, WeightDecay = 1e-4, Nesterov = true },
    };

    // Warm-up across the save point, so the restored run must pick the schedule up mid-way.
    static readonly WarmupCosineSchedule Schedule = new(StepsBeforeSave + StepsAfterSave, 6, 1e-4, 1e-5);
    static readonly ModelEmaOptions EmaOptions = new() { Decay = 0.8 };

    static (Tensor X, Tensor Y) Batches()
    {
        var generator = new Generator(21);
        return (randn([StepsBeforeSave + StepsAfterSave, 5, 4, 6], generator: generator),
            randint(0, 3, [StepsBeforeSave + StepsAfterSave, 5], generator: generator));
    }

    // One training step as the distillation loop makes it: schedule, gradients, clip, update, EMA.
    static void Train(TinyTokenNet model, OptimizerHelper optimizer, ModelEma ema, long from, long to)
    {
        var (xs, ys) = Batches();
        for (var step = from; step < to; step++)
        {
            using var stepScope = NewDisposeScope();
            Schedule.Apply(optimizer, step);
            optimizer.zero_grad();
            nn.functional.cross_entropy(model.forward(xs[step]), ys[step]).backward();
            GradientClipping.ClipByGlobalNorm(model.parameters(), 0.5);
            optimizer.step();
            ema.Update(model);
        }
    }

    [Theory]
    [InlineData(OptimizerKind.AdamW)]
    [InlineData(OptimizerKind.Sgd)]
    [InlineData(OptimizerKind.Lamb)]
    public void ResumingFromACheckpointIsBitIdenticalToNotStopping(OptimizerKind kind)
    {
        manual_seed(8);
        var initialWeights = new TinyTokenNet().SaveToBytes();

        var uninterrupted = new TinyTokenNet().LoadFromBytes(initialWeights);
        using var uninterruptedOptimizer = OptimizerFactory.Create(uninterrupted.named_parameters(), RecipeFor(kind));
        using var uninterruptedEma = new ModelEma(uninterrupted, () => new TinyTokenNet(), EmaOptions);
        Train(uninterrupted, uninterruptedOptimizer, uninterruptedEma, 0, StepsBeforeSave + StepsAfterSave);

        using var checkpoint = new MemoryStream();
        {
            var first = new TinyTokenNet().LoadFromBytes(initialWeights);
            using var optimizer = OptimizerFactory.Create(first.named_parameters(), RecipeFor(kind));
            using var ema = new ModelEma(first, () => new TinyTokenNet(), EmaOptions);
            Train(first, optimizer, ema, 0, StepsBeforeSave);
            using (var writer = new BinaryWriter(checkpoint, System.Text.Encoding.UTF8, leaveOpen: true))
                first.save(writer);
            OptimizerCheckpoint.Save(checkpoint, optimizer, StepsBeforeSave, ema);
            first.Dispose();
        }

        // Fresh objects, differently initialised, restored inside a dispose scope that ends before training resumes.
        var resumed = new TinyTokenNet();
        using var resumedOptimizer = OptimizerFactory.Create(resumed.named_parameters(), RecipeFor(kind));
        using var resumedEma = new ModelEma(resumed, () => new TinyTokenNet(), EmaOptions);
        long nextStep;
        using (NewDisposeScope())
        {
            checkpoint.Position = 0;
            using (var reader = new BinaryReader(checkpoint, System.Text.Encoding.UTF8, leaveOpen: true))
                resumed.load(reader);
            nextStep = OptimizerCheckpoint.Restore(checkpoint, resumedOptimizer, resumedEma);
        }
        Assert.Equal(StepsBeforeSave, nextStep);
        Assert.Equal(checkpoint.Length, checkpoint.Position); // read exactly what was written
        Train(resumed, resumedOptimizer, resumedEma, nextStep, StepsBeforeSave + StepsAfterSave);

        BitIdentical.AssertStates(uninterrupted, resumed, $"{kind} model");
        BitIdentical.AssertStates(uninterruptedEma.Module, resumedEma.Module, $"{kind} EMA");
        Assert.Equal(uninterruptedEma.Updates, resumedEma.Updates);
        Assert.Equal(uninterruptedOptimizer.ParamGroups.Select(g => g.LearningRate), resumedOptimizer.ParamGroups.Select(g => g.LearningRate));
    }

    [Fact]
    public void ACheckpointOnlyRestoresIntoTheSameKindOfOptimizerAndEma()
    {
        var model = new TinyTokenNet();
        using var lamb = OptimizerFactory.Create(model.named_parameters(), RecipeFor(OptimizerKind.Lamb));
        using var adamW = OptimizerFactory.Create(model.named_parameters(), RecipeFor(OptimizerKind.AdamW));
        using var ema = new ModelEma(model, () => new TinyTokenNet());
        using var stream = new MemoryStream();
        OptimizerCheckpoint.Save(stream, lamb, 0);

        stream.Position = 0;
        Assert.Throws<InvalidDataException>(() => OptimizerCheckpoint.Restore(stream, adamW));
        stream.Position = 0;
        Assert.Throws<InvalidDataException>(() => OptimizerCheckpoint.Restore(stream, lamb, ema));
        Assert.Throws<InvalidDataException>(() => OptimizerCheckpoint.Restore(new MemoryStream([1, 2, 3]), lamb));
    }
}
