using System.Diagnostics;
using ScaleKD.Tests.Shared;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Data;
using ScaleKD.Torch.Training.Optimization;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Weights;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>The trainer on a few hundred real Fashion-MNIST images, on the CPU, with tiny models at 64 px (so CNN
/// students have a 2×2 last stage).</summary>
[Trait("Category", "Training")]
[Collection(SerialTrainingCollection.Name)]
public sealed class DistillationTrainerTests : IDisposable
{
    static readonly ModelOptions Pico = new(NumClasses: 10, ImageSize: 64);
    readonly string _work = Directory.CreateTempSubdirectory("scalekd-train-").FullName;

    public DistillationTrainerTests() => TorchBackend.Initialize();

    /// <summary>A quick, learnable setting: AdamW at a fixed rate, a short warm-up, no augmentation.</summary>
    static DistillationSpec Quick(DistillationMethod method = DistillationMethod.ScaleKD, int epochs = 4) => new()
    {
        Method = method,
        Epochs = epochs,
        BatchSize = 32,
        Seed = 3,
        Optimizer = new OptimizerRecipe { Kind = OptimizerKind.AdamW, LearningRate = 1e-2, WeightDecay = 0.01, WarmupEpochs = 0.25 },
        Augmentation = AugmentationOptions.Disabled(64),
        LogEverySteps = 4,
    };

    sealed class Recorder : IProgress<DistillationProgress>
    {
        public List<DistillationProgress> Reports { get; } = [];
        public Action<DistillationProgress>? OnReport { get; init; }

        public void Report(DistillationProgress value)
        {
            lock (Reports)
                Reports.Add(value);
            OnReport?.Invoke(value);
        }
    }

    [Theory]
    [InlineData("vit_pico_patch4_32", "resnet_pico")]
    [InlineData("swin_pico_patch2_window4_32", "mobilenetv1_pico")]
    public void AShortScaleKDRunLowersTheLossAndBeatsChance(string teacherName, string studentName)
    {
        manual_seed(0);
        var teacher = ModelRegistry.Create(teacherName, Pico);
        var student = ModelRegistry.Create(studentName, Pico);
        var progress = new Recorder();
        var result = new DistillationTrainer(Quick()).Fit(student, teacher, TrainingSources.Train(384), TrainingSources.Validation(200), progress);

        Assert.Equal(StopReason.Completed, result.StopReason);
        Assert.Equal(4, result.History.Count);
        Assert.True(result.History[^1].TrainLoss < result.History[0].TrainLoss,
            $"loss {result.History[0].TrainLoss:F3} → {result.History[^1].TrainLoss:F3}");
        var top1 = result.History.Max(h => h.ValidationTop1!.Value);
        // 46–60 % over seeds and kernels (ViT→ResNet 60.0 % here, 52.0 % on ATen's portable kernels; Swin→MobileNet 50.5 %
        // and 46.0 %): the bar leaves 16 points, twice the largest move a change of kernels made.
        Assert.True(top1 > 0.3, $"best validation top-1 {top1:P1}; chance is 10 %");
        Assert.Contains(result.History[0].TrainTerms.Keys, k => k == "s4_frequency");
        // Progress: step reports carry every term, the learning rate and throughput, and each epoch ends with its metrics.
        var step = progress.Reports.First(r => r.Finished is null);
        Assert.True(step.Losses.ContainsKey("total") && step.Losses.ContainsKey("s3_spatial") && step.LearningRate > 0 && step.ImagesPerSecond > 0);
        Assert.Equal(4, progress.Reports.Count(r => r.Finished is not null));
    }

    /// <summary>
    /// The bfloat16 student (<see cref="DistillationSpec.StudentBFloat16OnCuda"/>, here forced on the CPU) against the same
    /// run in float32, from the same weights. bfloat16 keeps 8 significant bits, so every step's gradient is off by a few
    /// 2⁻⁸ of its scale and the two runs drift apart as two seeds do. Bars: the final training loss within 15 % (float32
    /// runs of this test with seeds 3, 4 and 5 ended 12.05, 14.14 and 12.27 apart, a 17 % range), the best validation
    /// top-1 within 10 points (two accuracies on 200 images differ by that much, two standard deviations, by sampling
    /// alone), and the bfloat16 run well above chance. Measured: seed 3 ends 12.05 / 12.22 and 57.0 / 50.5 %, seed 4
    /// 14.14 / 14.25 and 54.0 / 55.5 % (float32 / bfloat16). Student-only and vanilla-KD runs track closer still.
    /// </summary>
    [Fact]
    public void ABFloat16StudentTracksTheFloat32Run()
    {
        manual_seed(0);
        var teacher = ModelRegistry.Create("vit_pico_patch4_32", Pico);
        var initial = ModelRegistry.Create("resnet_pico", Pico).state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        DistillationResult Run(bool bfloat16)
        {
            var student = ModelRegistry.Create("resnet_pico", Pico);
            StateDicts.LoadStrict(student, initial, "initial weights");
            return new DistillationTrainer(Quick() with { StudentBFloat16Everywhere = bfloat16 })
                .Fit(student, teacher, TrainingSources.Train(384), TrainingSources.Validation(200));
        }
        var float32 = Run(false);
        var bfloat16 = Run(true);
        var lossGap = Math.Abs(bfloat16.History[^1].TrainLoss - float32.History[^1].TrainLoss) / float32.History[^1].TrainLoss;
        var top1Gap = Math.Abs(bfloat16.History.Max(h => h.ValidationTop1!.Value) - float32.History.Max(h => h.ValidationTop1!.Value));
        var summary = $"train loss {float32.History[^1].TrainLoss:F3} (float32) against {bfloat16.History[^1].TrainLoss:F3} (bfloat16); " +
                      $"best top-1 {float32.History.Max(h => h.ValidationTop1!.Value):P1} against {bfloat16.History.Max(h => h.ValidationTop1!.Value):P1}";
        Assert.True(lossGap < 0.15 && top1Gap < 0.10 && bfloat16.History.Max(h => h.ValidationTop1!.Value) > 0.3, summary);
        // The run's student holds float32 weights: what is validated, averaged and saved.
        Assert.All(bfloat16.Student.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
    }

    [Fact]
    public void TheSameSeedGivesTheSameLossCurve()
    {
        double[] Curve()
        {
            manual_seed(0);
            var teacher = ModelRegistry.Create("swin_pico_patch2_window4_32", Pico);
            var student = ModelRegistry.Create("resnet_pico", Pico);
            var losses = new List<double>();
            var options = Quick(epochs: 2) with { Augmentation = new AugmentationOptions { ImageSize = 64 } };
            new DistillationTrainer(options).Fit(student, teacher, TrainingSources.Train(128), null,
                new Recorder { OnReport = r => losses.Add(r.Losses["total"]) });
            return [.. losses];
        }
        Assert.Equal(Curve(), Curve());
    }

    [Fact]
    public void KillingTheProcessMidRunAndResumingReachesTheSameWeightsAndNeverLeavesAHalfWrittenCheckpoint()
    {
        var uninterrupted = Path.Combine(_work, "uninterrupted.safetensors");
        var resumed = Path.Combine(_work, "resumed.safetensors");
        var checkpoints = Path.Combine(_work, "checkpoints");
        var reference = ChildProcess.Run("ScaleKD.TestHost", null, "train", Path.Combine(_work, "reference-checkpoints"), uninterrupted, "5");
        Assert.True(reference.ExitCode == 0, reference.StandardError);

        // Kill with SIGKILL at a random moment after the second epoch's checkpoint, possibly while the third is written.
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { ChildProcess.MetadataValue("ScaleKD.TestHost"), "train", checkpoints, resumed, "5" })
            start.ArgumentList.Add(argument);
        using (var child = Process.Start(start)!)
        {
            string? line;
            while ((line = child.StandardOutput.ReadLine()) is not null && !line.StartsWith("epoch 2 done"))
            {
            }
            Assert.NotNull(line);
            Thread.Sleep(Random.Shared.Next(0, 200));
            child.Kill(); // SIGKILL on Linux
            child.WaitForExit();
        }
        var (state, sections) = CheckpointFile.Load<TrainingCheckpoint>(Path.Combine(checkpoints, TrainingCheckpoint.FileName));
        Assert.InRange(state.CompletedEpochs, 2, 4);
        Assert.Equal(state.CompletedEpochs, state.History.Count);
        Assert.Contains("optimizer", sections.Keys);

        var again = ChildProcess.Run("ScaleKD.TestHost", null, "train", checkpoints, resumed, "5");
        Assert.True(again.ExitCode == 0, again.StandardError);
        Assert.Contains($"finished resumed-from {state.CompletedEpochs}", again.StandardOutput);
        Assert.Equal(File.ReadAllBytes(uninterrupted), File.ReadAllBytes(resumed));
    }

    [Fact]
    public void ACheckpointOfADifferentRunIsRefusedWithTheDifference()
    {
        var options = Quick(epochs: 1) with { CheckpointDirectory = Path.Combine(_work, "ck") };
        var teacher = ModelRegistry.Create("swin_pico_patch2_window4_32", Pico);
        new DistillationTrainer(options).Fit(ModelRegistry.Create("resnet_pico", Pico), teacher, TrainingSources.Train(64));
        var error = Assert.Throws<InvalidOperationException>(() =>
            new DistillationTrainer(options with { Seed = 99 }).Fit(ModelRegistry.Create("resnet_pico", Pico), teacher, TrainingSources.Train(64)));
        Assert.Contains("seed 3 (now 99)", error.Message);
    }

    [Fact]
    public void CancellationStopsAtTheNextStepAndReturnsTheBestModelSoFar()
    {
        using var cancel = new CancellationTokenSource();
        var teacher = ModelRegistry.Create("swin_pico_patch2_window4_32", Pico);
        var student = ModelRegistry.Create("resnet_pico", Pico);
        var validation = TrainingSources.Validation(100);
        var progress = new Recorder { OnReport = r => { if (r.Epoch == 2 && r.Finished is null) cancel.Cancel(); } };
        var result = new DistillationTrainer(Quick(epochs: 5)).Fit(student, teacher, TrainingSources.Train(256), validation, progress, cancel.Token);

        Assert.Equal(StopReason.Cancelled, result.StopReason);
        Assert.Single(result.History);
        Assert.Equal(1, result.BestEpoch);
        var (_, top1, _) = DistillationTrainer.Evaluate(student, validation, new EvalTransform(AugmentationOptions.Disabled(64)), 50, CPU);
        Assert.Equal(result.History[0].ValidationTop1!.Value, top1, 6);
    }

    [Fact]
    public void ANaNLossStopsWithTheStepAndTermAndKeepsTheLastGoodCheckpoint()
    {
        var checkpoints = Path.Combine(_work, "nan");
        var poisoned = new TrainingSources.Tampered(TrainingSources.Train(128), epoch: 1, batch: 1, TrainingSources.WithNaN);
        var options = Quick(epochs: 3) with { CheckpointDirectory = checkpoints, LogEverySteps = 100 };
        var error = Assert.Throws<NonFiniteLossException>(() => new DistillationTrainer(options).Fit(
            ModelRegistry.Create("resnet_pico", Pico), ModelRegistry.Create("swin_pico_patch2_window4_32", Pico), poisoned));
        Assert.Contains("at step 6 (epoch 2)", error.Message); // 4 steps per epoch; the second batch of epoch 2
        Assert.Matches("'(ce|kd|s3_spatial|s3_frequency|s4_spatial|s4_frequency|total)'", error.Message);
        Assert.Equal(1, CheckpointFile.Load<TrainingCheckpoint>(Path.Combine(checkpoints, TrainingCheckpoint.FileName)).Metadata.CompletedEpochs);
    }

    [Fact]
    public void BadInputIsRefusedWithAClearMessage()
    {
        var teacher = ModelRegistry.Create("swin_pico_patch2_window4_32", Pico);
        DistillationResult Fit(IBatchSource source) =>
            new DistillationTrainer(Quick(epochs: 1)).Fit(ModelRegistry.Create("resnet_pico", Pico), teacher, source);

        var empty = Assert.Throws<ArgumentException>(() => Fit(new TrainingSources.Empty()));
        Assert.Contains("empty", empty.Message);
        var label = Assert.Throws<InvalidOperationException>(() =>
            Fit(new TrainingSources.Tampered(TrainingSources.Train(64), 0, 0, b => TrainingSources.WithLabel(b, 12))));
        Assert.Contains("label 12, outside the 10 classes", label.InnerException!.Message);
        var shape = Assert.Throws<InvalidOperationException>(() =>
            Fit(new TrainingSources.Tampered(TrainingSources.Train(64), 0, 0, TrainingSources.WithTwoChannels)));
        Assert.Contains("expected (N, 1 or 3, H, W)", shape.InnerException!.Message);
        var classes = Assert.Throws<ArgumentException>(() =>
            new DistillationTrainer(Quick()).Fit(ModelRegistry.Create("resnet_pico", Pico with { NumClasses = 5 }), teacher, TrainingSources.Train(64)));
        Assert.Contains("5 classes", classes.Message);
    }

    [Fact]
    public void TheLinearProbeLiftsARandomHeadTeacherWellAboveChance()
    {
        manual_seed(2);
        var teacher = ModelRegistry.Create("resnet_pico", Pico);
        var train = TrainingSources.Train(384);
        var validation = TrainingSources.Validation(200);
        new DistillationTrainer(Quick(DistillationMethod.None, epochs: 3)).Fit(teacher, null, train);
        using (no_grad())
            foreach (var parameter in teacher.Classifier.parameters())
                parameter.normal_(0, 1);
        var transform = new EvalTransform(AugmentationOptions.Disabled(64));
        var before = LinearProbe.Evaluate(teacher, validation, transform.Apply, 50);

        var probe = LinearProbe.Fit(teacher, train, validation, transform.Apply, new LinearProbeOptions(Epochs: 4, LearningRate: 1e-2));

        // 54.5–57 % over seeds and kernels, from 2.5–10 % before: the bars leave about 20 points.
        Assert.True(probe.ValidationTop1 > 0.35 && probe.ValidationTop1 > before + 0.2,
            $"validation top-1 {before:P1} with the random head, {probe.ValidationTop1:P1} after the probe");
        Assert.All(teacher.parameters(), p => Assert.False(p.requires_grad));
    }

    [Fact]
    public void EarlyStoppingEndsARunThatNoLongerImprovesAndReturnsTheBestEmaWeights()
    {
        // A learning rate of ~0 and a LayerNorm-only student: validation accuracy cannot improve after epoch 1.
        var options = Quick(DistillationMethod.None, epochs: 6) with
        {
            Optimizer = new OptimizerRecipe { Kind = OptimizerKind.AdamW, LearningRate = 1e-12, WeightDecay = 0, WarmupEpochs = 0.25 },
            EarlyStoppingPatience = 2,
        };
        var student = ModelRegistry.Create("vit_pico_patch4_32", Pico);
        var result = new DistillationTrainer(options).Fit(student, null, TrainingSources.Train(64), TrainingSources.Validation(64));
        Assert.Equal(StopReason.EarlyStopped, result.StopReason);
        Assert.Equal(3, result.History.Count);
        Assert.Equal(1, result.BestEpoch);
        Assert.True(result.ReturnedEma, "a ViT student keeps an EMA by the official recipe");
    }

    [Fact]
    public void ATeacherSavedByThisToolLoadsBackWithItsDescription()
    {
        var teacher = ModelRegistry.Create("swin_pico_patch2_window4_32", Pico);
        var path = Path.Combine(_work, "teacher.safetensors");
        TeacherFiles.Save(teacher, new TeacherDescription("swin_pico_patch2_window4_32", Pico, FashionMnist.ClassNames, 0.85), path);
        var (loaded, description) = TeacherFiles.Load(path);
        Assert.Equal(0.85, description.ValidationTop1);
        Assert.Equal(FashionMnist.ClassNames, description.ClassNames);
        using var images = randn(2, 3, 64, 64);
        teacher.eval();
        loaded.eval();
        Assert.True(teacher.forward(images).equal(loaded.forward(images)).all().item<bool>());
        File.Delete(Path.ChangeExtension(path, ".json"));
        Assert.Throws<FileNotFoundException>(() => TeacherFiles.Load(path));
    }

    [Fact]
    public void ImportedWeightsWithAnotherClassCountLeaveTheHeadForTheProbe()
    {
        var path = Path.Combine(_work, "imagenet-like.safetensors");
        SafetensorsWeights.Save(ModelRegistry.Create("resnet_pico", Pico with { NumClasses = 1000 }), path);
        var teacher = ModelRegistry.Create("resnet_pico", Pico);
        var import = PretrainedWeights.Import(teacher, path);
        Assert.False(import.ClassifierLoaded);
        Assert.Equal(["fc.bias", "fc.weight"], import.SkippedKeys);
        Assert.True(PretrainedWeights.Import(ModelRegistry.Create("resnet_pico", Pico with { NumClasses = 1000 }), path).ClassifierLoaded);
        var wrongModel = Assert.Throws<InvalidDataException>(() => PretrainedWeights.Import(ModelRegistry.Create("resnet18", Pico), path));
        Assert.Contains("mis-shaped keys", wrongModel.Message);
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}
