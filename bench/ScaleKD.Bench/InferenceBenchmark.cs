using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.MLNet;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Training.Augmentation;
using static TorchSharp.torch;

namespace ScaleKD.Bench;

/// <summary>
/// Scoring speed of a student four ways on the same PNG files: raw batched TorchSharp forward (tensors ready), raw
/// decode + forward, batched <c>Transform</c> through ML.NET, and <c>PredictionEngine</c> one row at a time against a
/// raw single-image forward; plus RSS across many PredictionEngine calls.
/// </summary>
static class InferenceBenchmark
{
    sealed class Row
    {
        public string ImagePath { get; set; } = "";
    }

    sealed class Scores
    {
        public float[] Score { get; set; } = [];
    }

    /// <param name="rounds">Timed rounds; each way's median over them is reported.</param>
    public static void Run(string studentName, int imageSize, int rows, int batch, int engineCalls, int rounds, TorchBackendInfo backend)
    {
        var folder = Directory.CreateTempSubdirectory("scalekd-bench-").FullName;
        try
        {
            var random = new Random(1);
            var paths = Enumerable.Range(0, rows).Select(i =>
            {
                var pixels = new byte[imageSize * imageSize * 4];
                random.NextBytes(pixels);
                for (var p = 3; p < pixels.Length; p += 4)
                    pixels[p] = 255;
                using var image = MLImage.CreateFromPixels(imageSize, imageSize, MLPixelFormat.Rgba32, pixels);
                var path = Path.Combine(folder, $"{i:D5}.png");
                image.Save(path);
                return path;
            }).ToList();

            var ml = new MLContext(seed: 1);
            manual_seed(0);
            var student = ModelRegistry.Create(studentName, new ModelOptions(NumClasses: 10, ImageSize: imageSize));
            var preprocessing = new StudentPreprocessing(imageSize, Normalize.ImageNetMean, Normalize.ImageNetStd, 1.0);
            using var scorer = new ScaleKDTransformer(ml, student, backend.Device, "Image", "Score", "PredictedLabel",
                Enumerable.Range(0, 10).Select(i => $"class {i}").ToArray(), preprocessing, batch);
            var data = ml.Data.LoadFromEnumerable(paths.Select(p => new Row { ImagePath = p }));
            var model = ml.Transforms.LoadImages("Image", null, nameof(Row.ImagePath)).Fit(data).Append(scorer);
            var transform = preprocessing.CreateTransform();
            student.eval();

            double RawForward(bool decode)
            {
                using var noGrad = no_grad();
                var chunks = paths.Chunk(batch).ToList();
                var decoded = decode ? null : chunks.Select(chunk => Decode(chunk, transform).to(backend.Device)).ToList();
                var clock = Stopwatch.StartNew();
                for (var i = 0; i < chunks.Count; i++)
                {
                    using var scope = NewDisposeScope();
                    var input = decoded?[i] ?? Decode(chunks[i], transform).to(backend.Device);
                    _ = nn.functional.softmax(student.forward(input), 1).cpu();
                }
                var rate = rows / clock.Elapsed.TotalSeconds;
                decoded?.ForEach(t => t.Dispose());
                return rate;
            }

            double MLNetTransform(bool prefetch = true)
            {
                ScoringRow.PrefetchNextBatch = prefetch;
                try
                {
                    var clock = Stopwatch.StartNew();
                    var count = ml.Data.CreateEnumerable<Scores>(model.Transform(data), reuseRowObject: true).Count();
                    return count / clock.Elapsed.TotalSeconds;
                }
                finally
                {
                    ScoringRow.PrefetchNextBatch = true;
                }
            }

            double RawSingle()
            {
                using var noGrad = no_grad();
                var times = new List<double>();
                foreach (var path in paths.Take(100))
                {
                    var clock = Stopwatch.StartNew();
                    using var scope = NewDisposeScope();
                    _ = nn.functional.softmax(student.forward(Decode([path], transform).to(backend.Device)), 1).cpu();
                    times.Add(clock.Elapsed.TotalMilliseconds);
                }
                return Median(times);
            }

            var engine = ml.Model.CreatePredictionEngine<Row, Scores>(model, new PredictionEngineOptions { OwnsTransformer = false });
            double EngineSingle()
            {
                var times = new List<double>();
                foreach (var path in paths.Take(100))
                {
                    var clock = Stopwatch.StartNew();
                    engine.Predict(new Row { ImagePath = path });
                    times.Add(clock.Elapsed.TotalMilliseconds);
                }
                return Median(times);
            }

            // Warm-up, then rounds that alternate the ways, reporting each way's median: one pass of each in a fixed
            // order lets page faults and a busy neighbour favour whichever runs later.
            RawForward(decode: false);
            MLNetTransform();
            RawSingle();
            EngineSingle();
            List<double> readyRates = [], decodeRates = [], transformRates = [], serialTransformRates = [], singleTimes = [], engineTimes = [];
            for (var round = 0; round < rounds; round++)
            {
                readyRates.Add(RawForward(decode: false));
                decodeRates.Add(RawForward(decode: true));
                transformRates.Add(MLNetTransform());
                serialTransformRates.Add(MLNetTransform(prefetch: false));
                singleTimes.Add(RawSingle());
                engineTimes.Add(EngineSingle());
            }
            double rawReady = Median(readyRates), rawDecode = Median(decodeRates), viaTransform = Median(transformRates);
            var serialTransform = Median(serialTransformRates);
            double rawSingle = Median(singleTimes), engineSingle = Median(engineTimes);

            // RSS after every fifth of the calls: a leak shows as a steady climb, not only as an end-to-end difference.
            var resident = new List<long> { Resident() };
            for (var i = 0; i < engineCalls; i++)
            {
                engine.Predict(new Row { ImagePath = paths[i % paths.Count] });
                if ((i + 1) % Math.Max(1, engineCalls / 5) == 0)
                    resident.Add(Resident());
            }
            long before = resident[0], after = resident[^1];

            Console.WriteLine($"# inference, {studentName}, {imageSize} px, {rows} PNG rows, batch {batch}, median of {rounds} rounds, {backend.Description}, torch threads {get_num_threads()}");
            Console.WriteLine("| measure | value | ratio |");
            Console.WriteLine("|---|---|---|");
            Console.WriteLine($"| raw batched forward (tensors ready) | {rawReady:F1} rows/s | 1.00 |");
            Console.WriteLine($"| raw decode + batched forward | {rawDecode:F1} rows/s | {rawDecode / rawReady:F2} |");
            Console.WriteLine($"| ML.NET batched Transform (decode included) | {viaTransform:F1} rows/s | {viaTransform / rawReady:F2} (vs decode + forward: {viaTransform / rawDecode:F2}) |");
            Console.WriteLine($"| ML.NET batched Transform, next batch not prefetched | {serialTransform:F1} rows/s | {serialTransform / rawReady:F2} (prefetch gains {viaTransform / serialTransform:F2}x) |");
            Console.WriteLine($"| raw single-image decode + forward | {rawSingle:F2} ms | 1.00 |");
            Console.WriteLine($"| PredictionEngine.Predict | {engineSingle:F2} ms | {engineSingle / rawSingle:F2} |");
            Console.WriteLine($"| RSS across {engineCalls} PredictionEngine calls | {string.Join(" → ", resident.Select(r => $"{r >> 20}"))} MB | {(after - before) / (double)(1 << 20):+0.0;-0.0} MB |");
            engine.Dispose();
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    static Tensor Decode(IEnumerable<string> paths, EvalTransform transform)
    {
        var images = paths.Select(p =>
        {
            using var image = MLImage.CreateFromFile(p);
            return ImageColumn.ToTensor(image);
        }).ToList();
        var batch = transform.Apply(images);
        foreach (var image in images)
            image.Dispose();
        return batch;
    }

    static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }

    static long Resident()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return Process.GetCurrentProcess().WorkingSet64;
    }
}
