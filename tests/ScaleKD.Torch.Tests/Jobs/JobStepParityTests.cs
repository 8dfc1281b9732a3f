using ScaleKD.Tests.Shared;
using ScaleKD.Torch.Tests.Training;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Jobs;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Optimization;
using ScaleKD.Torch.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Jobs;

/// <summary>
/// The PyTorch job's first step (python/train.py, its data pipeline, objective and optimizer) against ScaleKD.Torch's
/// trainer step on the same weights and the batch the job drew, both in float64: every loss term, every clipped
/// gradient and every parameter's update. In float64 the two sides differ only by summation order (about 1e-15 of a
/// value, times at most 1e3 where the frequency view removes a near-constant mean), so 1e-5 separates rounding from
/// a wrong formula, weight-decay group, learning rate or clip by many orders of magnitude.
/// </summary>
[Trait("Category", "TorchJob")]
[Collection(SerialTrainingCollection.Name)] // creating the job's models reseeds torch's global generator
public sealed class JobStepParityTests
{
    const double Tolerance = 1e-5;

    [TorchJobTheory]
    [InlineData("resnet_pico", 64)] // LAMB (the official ResNet recipe); BatchNorm in the student and the projector stems
    [InlineData("mixer_pico_patch4_32", 32)] // AdamW (the ViT recipe Mixer gets); weight-decay groups by name
    // The default teacher, which the job rebuilds from its ONNX file, at its own 64 px: the student's images resized.
    [InlineData("mixer_pico_patch4_32", 32, MlNetResNet18.Name)]
    // The traditional recipe: SGD with momentum, decay on every parameter, step decay.
    [InlineData("mixer_pico_patch4_32", 32, "vit_pico_patch4_32", true)]
    // The baselines: DIST's relation loss, and FitNet's hint through its trained regressor.
    [InlineData("mixer_pico_patch4_32", 32, "vit_pico_patch4_32", false, DistillationMethod.Dist)]
    [InlineData("mixer_pico_patch4_32", 32, "vit_pico_patch4_32", false, DistillationMethod.FeatureKD)]
    public void TheJobsFirstStepEqualsTheTrainersInFloat64(string studentName, int imageSize, string teacherName = "vit_pico_patch4_32",
        bool sgd = false, DistillationMethod method = DistillationMethod.ScaleKD)
    {
        using var job = new TinyJob(studentName, imageSize, batch: 8, images: 64, teacher: teacherName,
            optimizer: sgd ? OptimizerRecipe.TraditionalSgd(8) : null, method: method);
        var dump = job.File("first-step.safetensors");
        TorchJob.Run(job.Folder, 1, "--float64", "--max-steps", "1", "--dump-first-step", dump, "--output", job.File("run"));
        using var python = SafetensorsWeights.Read(dump);

        var classes = job.Settings.ClassNames.Count;
        using var teacher = ModelRegistry.Create(job.Settings.Teacher!.Model, new ModelOptions(classes, job.Settings.Teacher.ImageSize));
        SafetensorsWeights.Load(teacher, job.File(job.Settings.Teacher.Weights));
        using var student = ModelRegistry.Create(studentName, new ModelOptions(classes, imageSize));
        SafetensorsWeights.Load(student, job.File(JobExport.StudentInitFile));
        using var objective = DistillationObjective.Create(job.Spec.Method, student, teacher, job.Spec.Objective);
        if (job.Settings.Objective.Weights is { } objectiveWeights)
            SafetensorsWeights.Load(objective, job.File(objectiveWeights));
        teacher.to(float64);
        student.to(float64);
        objective.to(float64);
        student.train();
        objective.train();
        var trainable = DistillationTrainer.Trainable(student, objective);
        var before = trainable.ToDictionary(p => p.Name, p => p.Parameter.detach().clone());
        var recipe = job.Spec.OptimizerFor(student.Family);
        using var step = new FullPrecisionStep(objective, trainable, recipe, recipe.CreateSchedule(job.Settings.Schedule.StepsPerEpoch, job.Spec.Epochs),
            job.Spec.GradientClipNorm);
        var result = step.Run(python["input.images"], python["input.labels"], 0);

        Assert.Equal(python.Keys.Where(k => k.StartsWith("output.", StringComparison.Ordinal)).Select(k => k["output.".Length..]).Order(),
            result.Terms.Keys.Append("total").Order());
        foreach (var (term, value) in result.Terms.Append(new("total", result.Total)))
        {
            var expected = python["output." + term].item<double>();
            Assert.True(Math.Abs(value.item<double>() - expected) <= Tolerance * Math.Abs(expected), $"{term}: {value.item<double>()} against {expected}");
        }
        Assert.Equal(python.Keys.Where(k => k.StartsWith("param.", StringComparison.Ordinal)).Select(k => k["param.".Length..]).Order(),
            trainable.Select(p => p.Name).Order());
        // A tensor whose gradient is zero in exact arithmetic (the residual branches of a ResNet whose last BatchNorm
        // starts at zero, a Mixer's last token-MLP bias, which the final LayerNorm cancels) holds rounding noise, about
        // 1e-16 of the largest gradient; AdamW divides it by its epsilon (1e-8), so in the update it can reach 1e-8 of
        // the largest update. Such tensors are held to 1e-7 of the largest gradient or update over all parameters.
        var gradientScale = trainable.Max(p => python["grad." + p.Name].abs().max().item<double>());
        var updateScale = trainable.Max(p => (python["param." + p.Name] - before[p.Name]).abs().max().item<double>());
        foreach (var (name, parameter) in trainable)
        {
            AssertClose($"gradient of {name}", parameter.grad!, python["grad." + name], gradientScale);
            AssertClose($"update of {name}", parameter.detach() - before[name], python["param." + name] - before[name], updateScale);
        }
    }

    /// <summary>Relative to the tensor's largest entry (an entry near zero carries no scale of its own), with the noise
    /// floor of 1e-7 of the largest over all parameters.</summary>
    static void AssertClose(string what, Tensor actual, Tensor expected, double overallScale)
    {
        var scale = expected.abs().max().item<double>();
        var error = (actual - expected).abs().max().item<double>();
        Assert.True(error <= Math.Max(Tolerance * scale, 1e-7 * overallScale),
            $"{what}: largest difference {error:G3} against a largest entry of {scale:G3} (largest over all parameters {overallScale:G3})");
    }
}
