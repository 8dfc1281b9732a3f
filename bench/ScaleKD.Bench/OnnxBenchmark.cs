using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Onnx.Export;
using ScaleKD.Torch.Training.Augmentation;
using static TorchSharp.torch;

namespace ScaleKD.Bench;

/// <summary>
/// A student scored two ways on the same ready pixels (no image decoding): TorchSharp (normalise, forward, softmax,
/// argmax) against ONNX Runtime's C# API on the student's export (<see cref="OnnxExport"/>), which does the same work
/// inside its graph. Single-image latency and batched rows/s; warm-up, then rounds that alternate which engine goes
/// first, each measure's median over every timed call.
/// </summary>
static class OnnxBenchmark
{
    public sealed record Result(string Student, double TorchMilliseconds, double OnnxMilliseconds, double TorchRowsPerSecond, double OnnxRowsPerSecond);

    /// <param name="singleCalls">Single-image calls per engine and round.</param>
    /// <param name="batchCalls">Batched calls per engine and round.</param>
    public static Result Run(string studentName, int imageSize, int classes, int batch, int rounds, int singleCalls, int batchCalls, int threads)
    {
        var folder = Directory.CreateTempSubdirectory("scalekd-bench-onnx-").FullName;
        try
        {
            manual_seed(0);
            using var student = ModelRegistry.Create(studentName, new ModelOptions(NumClasses: classes, ImageSize: imageSize));
            student.eval();
            var path = Path.Combine(folder, studentName + ".onnx");
            OnnxExport.Write(student, path);

            var normalize = new Normalize(Normalize.ImageNetMean, Normalize.ImageNetStd);
            using var singlePixels = (rand(1, 3, imageSize, imageSize, generator: new Generator(1)) * 255).round();
            using var batchPixels = (rand(batch, 3, imageSize, imageSize, generator: new Generator(2)) * 255).round();

            void TorchCall(Tensor pixels)
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                var logits = student.forward(normalize.Apply(pixels / 255f));
                _ = logits.softmax(1).cpu();
                _ = logits.argmax(1).cpu();
            }

            // ONNX Runtime with its defaults (all graph optimisations) but the thread count torch uses, so that both
            // engines get the same cores, and without spin-waiting: ORT's idle workers otherwise spin on the cores
            // after each call and starve the TorchSharp calls that follow in this process.
            using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1 };
            options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            using var session = new InferenceSession(path, options);
            using var runOptions = new RunOptions();
            var singleInput = OrtInput(singlePixels);
            var batchInput = OrtInput(batchPixels);
            string[] inputNames = [OnnxExport.InputName], outputNames = [OnnxExport.ProbabilitiesName, OnnxExport.LabelName];

            void OnnxCall(OrtValue input)
            {
                using var outputs = session.Run(runOptions, inputNames, [input], outputNames);
            }

            double Time(Action call)
            {
                var clock = Stopwatch.StartNew();
                call();
                return clock.Elapsed.TotalMilliseconds;
            }

            for (var i = 0; i < 3; i++)
            {
                TorchCall(singlePixels);
                OnnxCall(singleInput);
            }
            TorchCall(batchPixels);
            OnnxCall(batchInput);

            List<double> torchSingle = [], onnxSingle = [], torchBatch = [], onnxBatch = [];
            for (var round = 0; round < rounds; round++)
            {
                // Alternating which engine goes first keeps a busy neighbour or a warming cache from favouring one.
                var engines = new (Action Single, Action Batched)[]
                {
                    (() => torchSingle.Add(Time(() => TorchCall(singlePixels))), () => torchBatch.Add(Time(() => TorchCall(batchPixels)))),
                    (() => onnxSingle.Add(Time(() => OnnxCall(singleInput))), () => onnxBatch.Add(Time(() => OnnxCall(batchInput)))),
                };
                if (round % 2 == 1)
                    Array.Reverse(engines);
                foreach (var (single, _) in engines)
                    for (var i = 0; i < singleCalls; i++)
                        single();
                foreach (var (_, batched) in engines)
                    for (var i = 0; i < batchCalls; i++)
                        batched();
            }
            singleInput.Dispose();
            batchInput.Dispose();
            return new Result(studentName, Median(torchSingle), Median(onnxSingle),
                batch * 1000 / Median(torchBatch), batch * 1000 / Median(onnxBatch));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Prints the table for <paramref name="students"/>, with the conditions it was measured under.</summary>
    public static void Print(IReadOnlyList<string> students, int imageSize, int classes, int batch, int rounds, int singleCalls, int batchCalls, TorchBackendInfo backend)
    {
        var threads = get_num_threads();
        var loadBefore = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
        var results = students.Select(s => Run(s, imageSize, classes, batch, rounds, singleCalls, batchCalls, threads)).ToList();
        var loadAfter = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";

        Console.WriteLine($"# ONNX Runtime {OrtEnv.Instance().GetVersionString()} (C# API, CPU) vs TorchSharp, {imageSize} px, {classes} classes, ready float pixels " +
                          $"(normalise + forward + softmax + argmax on both), {Environment.ProcessorCount} logical CPUs, {threads} threads each, " +
                          $"{rounds} alternating rounds of {singleCalls} single and {batchCalls} batch-{batch} calls, medians; {backend.Description}; {backend.CpuConvolutions}");
        Console.WriteLine($"# load average before: {loadBefore}; after: {loadAfter}");
        Console.WriteLine($"| student | TorchSharp 1 image ms | ONNX Runtime 1 image ms | speed-up | TorchSharp batch-{batch} rows/s | ONNX Runtime batch-{batch} rows/s | speed-up |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var r in results)
            Console.WriteLine($"| {r.Student} | {r.TorchMilliseconds:F1} | {r.OnnxMilliseconds:F1} | {r.TorchMilliseconds / r.OnnxMilliseconds:F2}× | " +
                              $"{r.TorchRowsPerSecond:F1} | {r.OnnxRowsPerSecond:F1} | {r.OnnxRowsPerSecond / r.TorchRowsPerSecond:F2}× |");
    }

    /// <summary>An ONNX Runtime input over a copy of <paramref name="pixels"/> (N, 3, S, S).</summary>
    static OrtValue OrtInput(Tensor pixels) =>
        OrtValue.CreateTensorValueFromMemory(pixels.contiguous().data<float>().ToArray(), pixels.shape);

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
