using System.Diagnostics;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training.Precision;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Bench;

/// <summary>
/// Times one full distillation step (teacher forward, student forward and backward, projectors, TPP, AdamW step) for a
/// teacher/student pair: warm-up first, then the median of the timed iterations. The same step is in
/// bench/reference/scalekd_step.py for PyTorch.
/// </summary>
static class StepBenchmark
{
    public sealed record Result(string Method, double MedianMilliseconds, double ImagesPerSecond);

    /// <param name="teacherBFloat16">Run the frozen teacher in bfloat16, as the trainer does on CUDA.</param>
    /// <param name="channelsLast">Lay the images and the student's convolution weights out channels-last
    /// (<see cref="MemoryLayout"/>), as the PyTorch reference's --channels-last does.</param>
    /// <param name="studentBFloat16">Run the student's forward and backward in bfloat16 with float32 master weights
    /// (<see cref="BFloat16Student"/>), the counterpart of the reference's --autocast-bf16.</param>
    /// <param name="fuseProxyViews">Both views' TPP proxies in one teacher pass (the default) or one pass each.</param>
    public static Result Run(string teacherName, string studentName, DistillationMethod method, int imageSize, int batch, int warmup, int iterations,
        TorchBackendInfo backend, bool teacherBFloat16, bool channelsLast, bool studentBFloat16 = false, bool fuseProxyViews = true)
    {
        manual_seed(0);
        var options = new ModelOptions(NumClasses: 10, ImageSize: imageSize);
        using var teacher = ModelRegistry.Create(teacherName, options).to(backend.Device);
        if (teacherBFloat16)
            teacher.to(ScalarType.BFloat16);
        using var student = ModelRegistry.Create(studentName, options).to(backend.Device);
        if (channelsLast)
            MemoryLayout.ToChannelsLast(student);
        var objectiveOptions = new ObjectiveOptions { ScaleKD = new ScaleKDOptions { FuseProxyViews = fuseProxyViews } };
        using var objective = DistillationObjective.Create(method, student, teacher, objectiveOptions);
        objective.to(backend.Device);
        student.train();
        objective.train();
        // bfloat16: the optimizer keeps the float32 student and projectors; the step runs their bfloat16 copies.
        using var mixed = studentBFloat16 ? new BFloat16Student(student) : null;
        var working = mixed?.AttachObjective(objective, s => DistillationObjective.Create(method, s, teacher, objectiveOptions)) ?? objective;
        if (channelsLast && mixed is not null)
            MemoryLayout.ToChannelsLast(mixed.WorkingModel);
        var parameters = student.parameters().Concat(objective.parameters()).ToList();
        using var optimizer = optim.AdamW(parameters, 1e-3, weight_decay: 0.05);
        using var contiguous = randn(batch, 3, imageSize, imageSize, device: backend.Device);
        using var images = channelsLast ? MemoryLayout.ToChannelsLast(contiguous) : contiguous.alias();
        using var labels = randint(0, 10, batch, device: backend.Device);

        var times = new List<double>();
        for (var i = 0; i < warmup + iterations; i++)
        {
            var clock = Stopwatch.StartNew();
            using (var scope = NewDisposeScope())
            {
                mixed?.PullWeights();
                var loss = working.Compute(images, labels);
                optimizer.zero_grad();
                loss.Total.backward();
                mixed?.PushGradients();
                optimizer.step();
                _ = loss.Total.item<float>(); // the host sync that ends a timed step
            }
            if (i >= warmup)
                times.Add(clock.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        var median = times[times.Count / 2];
        return new Result(method.ToString(), median, batch / (median / 1000.0));
    }
}
