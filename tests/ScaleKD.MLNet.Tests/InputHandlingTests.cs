using System.Diagnostics;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training;

namespace ScaleKD.MLNet.Tests;

/// <summary>Encoded-byte input, bad images, colour formats, wrong columns, devices, cancellation and memory.</summary>
[Trait("Category", "MLNet")]
// One after another and alone: fits draw from torch's global generator, and MemoryStaysFlatOverTwoThousandPredictions
// reads the whole process's RSS, which another class's training moved by −39 to +89 MB.
[Collection(SerialFitCollection.Name)]
public sealed class InputHandlingTests(TrainedPipeline trained)
{
    static readonly PredictionEngineOptions Shared = new() { OwnsTransformer = false };

    public sealed class BytesRow
    {
        [LoadColumn(0)] public string Label { get; set; } = "";
        [LoadColumn(1)] public string ImagePath { get; set; } = "";
    }

    /// <summary>The same pipeline on encoded bytes (LoadRawImageBytes) instead of MLImage, one short epoch each.</summary>
    IEstimator<ITransformer> BytesPipeline(MLContext ml, ScaleKDTrainer.Options options) =>
        ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(ml.Transforms.LoadRawImageBytes("Image", trained.Images.Folder, "ImagePath"))
            .Append(ml.MulticlassClassification.Trainers.ScaleKD(options))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

    ScaleKDTrainer.Options Short(Action<ScaleKDTrainer.Options>? change = null)
    {
        var options = trained.TinyOptions(null);
        options.Epochs = 1;
        options.TeacherEpochs = 1;
        change?.Invoke(options);
        return options;
    }

    [Fact]
    public void AWeakTeacherIsRecordedAndWarnedAboutOrStopsTheFitBeforeDistilling()
    {
        // A student alone said to reach 100 % on the validation images: no teacher is clearly better than that.
        var context = new MLContext(seed: 1);
        var validation = context.Transforms.Conversion.MapValueToKey("Label").Append(context.Transforms.LoadImages("Image", trained.Images.Folder, "ImagePath"))
            .Fit(trained.Train).Transform(trained.Test);
        ScaleKDTrainer.Options Judged(WeakTeacherPolicy policy) => Short(o =>
        {
            o.ValidationSet = validation;
            o.StudentOnlyValidationTop1 = 1.0;
            o.WeakTeacher = policy;
            o.TeacherTestSet = validation;
        });

        var stop = Assert.Throws<WeakTeacherException>(() => TrainedPipeline.Pipeline(new MLContext(seed: 1), trained.Images.Folder, Judged(WeakTeacherPolicy.Stop)).Fit(trained.Train));
        Assert.Contains("not clearly better than the student alone", stop.Message);
        Assert.Equal(1.0, stop.Verdict.StudentTop1);

        var ml = new MLContext(seed: 1);
        var warnings = new List<string>();
        ml.Log += (_, e) => { if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Warning) warnings.Add(e.RawMessage); };
        var model = TrainedPipeline.Pipeline(ml, trained.Images.Folder, Judged(WeakTeacherPolicy.Warn)).Fit(trained.Train);
        var student = ((IEnumerable<ITransformer>)model).OfType<ScaleKDTransformer>().Single();
        Assert.NotNull(student.TeacherVerdict);
        Assert.False(student.TeacherVerdict!.TeacherHelps);
        Assert.Contains(warnings, w => w.Contains("not clearly better than the student alone"));
        // Scored on the images its validation accuracy was measured on, the same way: the same accuracy, give or take
        // one image whose prediction sits on a tie that another batch size's rounding breaks the other way.
        var images = ml.Data.CreateEnumerable<ImageRow>(trained.Test, reuseRowObject: false).Count();
        Assert.NotNull(student.TeacherTest);
        Assert.InRange(student.TeacherTest!.Top1, student.TeacherVerdict.TeacherTop1!.Value - 1.0 / images - 1e-9, student.TeacherVerdict.TeacherTop1.Value + 1.0 / images + 1e-9);
    }

    [Fact]
    public void EncodedBytesTrainSaveAndScoreIdenticallyInAFreshProcess()
    {
        var ml = new MLContext(seed: 1);
        var model = BytesPipeline(ml, Short()).Fit(trained.Train);
        var zip = Path.Combine(trained.Images.Folder, "bytes.zip");
        ml.Model.Save(model, trained.Train.Schema, zip);
        var expected = ml.Data.CreateEnumerable<Prediction>(model.Transform(trained.Test), reuseRowObject: false)
            .Select(p => $"{p.PredictedLabel} {string.Join(' ', p.Score.Select(v => BitConverter.SingleToInt32Bits(v).ToString("x8")))}").ToList();
        var result = ScaleKD.Tests.Shared.ChildProcess.Run("ScaleKD.TestHost", null, "score-images", zip, trained.Images.TestTsv);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Equal(expected, result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.StartsWith("transform ")).Select(l => l["transform ".Length..]));
    }

    /// <summary>The student's (and a from-scratch teacher's) initial weights come from the seed, not from whatever the
    /// process's random generator did before, so the same fit repeats exactly.</summary>
    [Fact]
    public void TheSameSeedFitsTheSameStudentWhateverRanBefore()
    {
        string Fit(long disturbance)
        {
            TorchSharp.torch.manual_seed(disturbance);
            var ml = new MLContext(seed: 1);
            var model = TrainedPipeline.Pipeline(ml, trained.Images.Folder, Short(o =>
            {
                o.Method = DistillationMethod.None;
                o.Progress = null;
                o.TeacherProgress = null;
            })).Fit(trained.Train);
            var scores = ml.Data.CreateEnumerable<Prediction>(model.Transform(trained.Test), reuseRowObject: false).Take(8).ToList();
            (model as IDisposable)?.Dispose();
            return string.Join(' ', scores.SelectMany(p => p.Score).Select(v => BitConverter.SingleToInt32Bits(v).ToString("x8")));
        }

        Assert.Equal(Fit(disturbance: 11), Fit(disturbance: 12345));
    }

    [Fact]
    public void AnUndecodableImageFailsWithItsRowNumberAndPathUnlessSkipping()
    {
        var folder = trained.Images.Folder;
        File.WriteAllText(Path.Combine(folder, "broken.png"), "this is not a PNG");
        var rows = File.ReadAllLines(trained.Images.TrainTsv).Take(63).Append("Bag\tbroken.png").Select(l => l.Split('\t'))
            .Select(p => new BytesRow { Label = p[0], ImagePath = p[1] }).ToList();
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(rows);

        var error = Assert.ThrowsAny<Exception>(() => BytesPipeline(ml, Short()).Fit(data));
        var messages = string.Join(" | ", Chain(error).Select(e => e.Message));
        Assert.Contains("Row 63", messages);
        Assert.Contains("'Image'", messages);
        // ImagePath, the column the image loader read, names the file: row numbers point nowhere once rows are shuffled.
        Assert.Contains("broken.png: Row 63", messages);

        var model = BytesPipeline(ml, Short(o => o.SkipUndecodableImages = true)).Fit(data);
        Assert.NotNull(model);
    }

    /// <summary>Transform reads the next batch while the current one is scored; a bad image there must fail only a
    /// consumer that reaches its row, and a consumer that stops earlier must close cleanly.</summary>
    [Fact]
    public void ABadImageInTheBatchReadAheadFailsOnlyWhenItsRowIsReached()
    {
        File.WriteAllText(Path.Combine(trained.Images.Folder, "broken-ahead.png"), "this is not a PNG");
        var ml = trained.Context;
        var rows = ml.Data.CreateEnumerable<ImageRow>(trained.Test, reuseRowObject: false).Take(40)
            .Append(new ImageRow { Label = "Bag", ImagePath = "broken-ahead.png" }).ToList();
        var scored = trained.Model.Transform(ml.Data.LoadFromEnumerable(rows));

        using (var cursor = scored.GetRowCursor(scored.Schema))
        {
            var score = cursor.GetGetter<VBuffer<float>>(scored.Schema["Score"]);
            var value = default(VBuffer<float>);
            for (var i = 0; i < 5 && cursor.MoveNext(); i++)
                score(ref value);
        }

        var all = ml.Data.CreateEnumerable<Prediction>(scored, reuseRowObject: false);
        var error = Assert.ThrowsAny<Exception>(() => all.Count());
        var messages = string.Join(" | ", Chain(error).Select(e => e.Message));
        Assert.Contains("Row 40", messages);
        Assert.Contains("'Image'", messages);
    }

    [Fact]
    public void GrayscaleAndRgbaImagesScoreLikeTheirRgbVersions()
    {
        var folder = trained.Images.Folder;
        var source = Path.Combine(folder, File.ReadAllLines(trained.Images.TestTsv)[0].Split('\t')[1]);
        using (var image = MLImage.CreateFromFile(source))
        {
            var rgba = image.Pixels.ToArray();
            var gray = Enumerable.Range(0, image.Width * image.Height).Select(p => rgba[4 * p]).ToArray();
            using var bitmap = new SkiaSharp.SKBitmap(image.Width, image.Height, SkiaSharp.SKColorType.Gray8, SkiaSharp.SKAlphaType.Opaque);
            System.Runtime.InteropServices.Marshal.Copy(gray, 0, bitmap.GetPixels(), gray.Length);
            using (var file = File.Create(Path.Combine(folder, "gray8.png")))
                bitmap.Encode(file, SkiaSharp.SKEncodedImageFormat.Png, 100);
            using var bgra = MLImage.CreateFromPixels(image.Width, image.Height, MLPixelFormat.Bgra32,
                Enumerable.Range(0, rgba.Length).Select(i => rgba[i / 4 * 4 + (i % 4 == 3 ? 3 : 2 - i % 4)]).ToArray());
            bgra.Save(Path.Combine(folder, "bgra.png"));
        }
        var ml = trained.Context;
        using var engine = ml.Model.CreatePredictionEngine<ImageRow, Prediction>(trained.Model, Shared);
        var reference = engine.Predict(new ImageRow { Label = "Bag", ImagePath = Path.GetFileName(source) }).Score;
        foreach (var variant in new[] { "gray8.png", "bgra.png" })
        {
            var scores = engine.Predict(new ImageRow { Label = "Bag", ImagePath = variant }).Score;
            Assert.Equal(reference, scores);
        }
    }

    [Fact]
    public void MissingOrMistypedColumnsAreNamed()
    {
        var ml = new MLContext(seed: 1);
        var noKey = ml.Transforms.LoadImages("Image", trained.Images.Folder, "ImagePath").Fit(trained.Train).Transform(trained.Train);
        var trainer = ml.MulticlassClassification.Trainers.ScaleKD(Short());
        var label = Assert.ThrowsAny<Exception>(() => trainer.Fit(noKey));
        Assert.Contains("'Label'", label.Message);
        Assert.Contains("Key<UInt32>", label.Message);

        var keyed = ml.Transforms.Conversion.MapValueToKey("Label").Fit(trained.Train).Transform(trained.Train);
        var noImage = Assert.ThrowsAny<Exception>(() => trainer.Fit(keyed));
        Assert.Contains("'Image'", noImage.Message);
        var wrongType = Assert.ThrowsAny<Exception>(() =>
            ml.MulticlassClassification.Trainers.ScaleKD(Short(o => o.ImageColumnName = "ImagePath")).Fit(keyed));
        Assert.Contains("'ImagePath'", wrongType.Message);
        Assert.Contains("Vector<Byte>", wrongType.Message);
        var unknownModel = Assert.ThrowsAny<ArgumentException>(() => ml.MulticlassClassification.Trainers.ScaleKD(Short(o => o.Student = "resnet9000")));
        Assert.Contains("resnet9000", unknownModel.Message);
    }

    [Fact]
    public void AGpuRequestOnACpuMachineFallsBackOnlyWhenAllowed()
    {
        var ml = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = false };
        var error = Assert.ThrowsAny<Exception>(() => TrainedPipeline.Pipeline(ml, trained.Images.Folder, Short()).Fit(trained.Train));
        Assert.Contains("CUDA", string.Join(" | ", Chain(error).Select(e => e.Message)));

        var fallback = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = true };
        var model = TrainedPipeline.Pipeline(fallback, trained.Images.Folder, Short()).Fit(trained.Train);
        Assert.True(fallback.MulticlassClassification.Evaluate(model.Transform(trained.Test)).MicroAccuracy >= 0);
    }

    [Fact]
    public void CancellingKeepsTheWorkWhetherByTokenOrByMLContextCancelExecution()
    {
        using var cancel = new CancellationTokenSource();
        var ml = new MLContext(seed: 1);
        var options = Short(o =>
        {
            o.Epochs = 4;
            o.CancellationToken = cancel.Token;
            o.Progress = new TrainedPipeline.SynchronousProgress(p => { if (p.Epoch == 2 && p.Finished is null) cancel.Cancel(); });
        });
        var model = TrainedPipeline.Pipeline(ml, trained.Images.Folder, options).Fit(trained.Train);
        Assert.InRange(ml.MulticlassClassification.Evaluate(model.Transform(trained.Test)).MicroAccuracy, 0, 1);

        var context = new MLContext(seed: 1);
        var cancelExecution = typeof(MLContext).GetMethod("CancelExecution", BindingFlags.Instance | BindingFlags.NonPublic)!;
        var clock = Stopwatch.StartNew();
        var viaContext = Short(o =>
        {
            o.Epochs = 50;
            o.Progress = new TrainedPipeline.SynchronousProgress(p => { if (p.Epoch == 2) cancelExecution.Invoke(context, null); });
        });
        var stopped = TrainedPipeline.Pipeline(context, trained.Images.Folder, viaContext).Fit(trained.Train);
        Assert.NotNull(stopped);
        Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), "CancelExecution did not stop a 50-epoch run");
    }

    [Fact]
    public void MemoryStaysFlatOverTwoThousandPredictions()
    {
        var ml = trained.Context;
        using var engine = ml.Model.CreatePredictionEngine<ImageRow, Prediction>(trained.Model, Shared);
        var rows = ml.Data.CreateEnumerable<ImageRow>(trained.Test, reuseRowObject: false).ToList();
        for (var i = 0; i < 500; i++)
            engine.Predict(rows[i % rows.Count]);
        var before = Resident();
        for (var i = 0; i < 2000; i++)
            engine.Predict(rows[i % rows.Count]);
        var growth = Resident() - before;
        // Leaking even one 64×64 input tensor per call would add ~100 MB; allocator noise on a busy machine stays far below.
        Assert.True(growth < 64L << 20, $"RSS grew by {growth >> 20} MB over 2,000 predictions");
    }

    static long Resident()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        return Process.GetCurrentProcess().WorkingSet64;
    }

    static IEnumerable<Exception> Chain(Exception e)
    {
        for (Exception? current = e; current is not null; current = current.InnerException)
            yield return current;
    }
}
