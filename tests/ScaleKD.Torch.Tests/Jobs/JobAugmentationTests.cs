using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ScaleKD.Tests.Shared;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Jobs;
using ScaleKD.Torch.Tests.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Weights;

namespace ScaleKD.Torch.Tests.Jobs;

/// <summary>
/// The job runs the official augmentation (RandAugment rand-m9-mstd0.5-inc1 and random erasing, python/scalekd/augment.py)
/// with the settings ScaleKD.Torch resolves. Its PIL ops are the ones the augmentation fixture holds ScaleKD.Torch's
/// tensor ops to (cases_aug.py writes the fixture with them); these tests hold the rest: the level-to-argument table,
/// the settings in job.json, the 8-bit round trip, the erased boxes, and a job that trains with all of it.
/// </summary>
[Trait("Category", "TorchJob")]
[Collection(SerialTrainingCollection.Name)] // creating the job's models reseeds torch's global generator
public sealed class JobAugmentationTests
{
    [TorchJobFact]
    public void TheJobsRandAugmentArgumentsAreScaleKDTorchsForEveryOpMagnitudeSignAndPolicy()
    {
        var cases = (from op in RandAugment.Ops
                     from magnitude in new[] { 0.0, 1.3, 2.5, 4.5, 7.77, 9.0, 9.6, 10.0 }
                     from negate in new[] { false, true }
                     from increasing in new[] { true, false }
                     select (op, magnitude, negate, increasing)).ToList();
        var request = JsonSerializer.Serialize(cases.Select(c => new object[] { c.op.ToString(), c.magnitude, c.negate, c.increasing }));
        var script = "import json, sys; sys.path.insert(0, sys.argv[1]); from scalekd import augment; " +
                     "print(json.dumps([augment.argument(o, m, n, i, 0.45) for o, m, n, i in json.loads(sys.stdin.read())]))";
        var start = new ProcessStartInfo(TorchJob.Python!, ["-c", script, PythonRunner.ShippedDirectory])
            { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        process.StandardInput.Write(request);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, stderr);
        var python = JsonSerializer.Deserialize<double?[]>(stdout)!;
        Assert.Equal(cases.Count, python.Length);
        Assert.Equal(RandAugment.Ops.Select(o => o.ToString()), PythonOps());
        for (var i = 0; i < cases.Count; i++)
        {
            var (op, magnitude, negate, increasing) = cases[i];
            var expected = new RandAugment(new RandAugmentOptions { Increasing = increasing }).Argument(op, magnitude, negate);
            if (double.IsNaN(expected))
                Assert.Null(python[i]);
            else // the same few floating-point operations in the same order
                Assert.True(python[i] is { } value && Math.Abs(value - expected) <= 1e-12 * Math.Max(1, Math.Abs(expected)),
                    $"{op} at {magnitude} (negate {negate}, increasing {increasing}): .NET {expected}, job {python[i]}");
        }
    }

    static string[] PythonOps()
    {
        var start = new ProcessStartInfo(TorchJob.Python!, ["-c", "import sys; sys.path.insert(0, sys.argv[1]); from scalekd import augment; print(' '.join(augment.OPS))",
            PythonRunner.ShippedDirectory]) { RedirectStandardOutput = true, RedirectStandardError = true };
        var result = ChildProcess.Run(start, "augment.OPS", TimeSpan.FromMinutes(1));
        Assert.True(result.ExitCode == 0, result.StandardError);
        return result.StandardOutput.Trim().Split(' ');
    }

    /// <summary>The official augmentation on 32 Fashion-MNIST images at 32 px: job.json carries what ScaleKD.Torch
    /// resolved; in the job's transform, RandAugment with no op returns the crop rounded to 8-bit codes (timm's images
    /// are 8-bit), erasing at probability 1 replaces one rectangle of 2 % to 1/3 of each image with N(0, 1) noise;
    /// and two steps of train.py with the whole pipeline train, the same with the batches built by worker processes.</summary>
    [TorchJobFact]
    public void AJobRunsTheOfficialAugmentationWithScaleKDTorchsSettings()
    {
        var official = new AugmentationOptions { ImageSize = 32 };
        Assert.NotNull(official.RandAugment);
        using var job = new TinyJob("mixer_pico_patch4_32", 32, batch: 16, images: 32, stem: ProjectorStem.LayerNorm, augmentation: official);
        using (var settings = JsonDocument.Parse(File.ReadAllText(job.File("job.json"))))
        {
            var augmentation = settings.RootElement.GetProperty("augmentation");
            var randAugment = augmentation.GetProperty("rand_augment");
            Assert.Equal(2, randAugment.GetProperty("ops_per_image").GetInt32());
            Assert.Equal(9, randAugment.GetProperty("magnitude").GetDouble());
            Assert.Equal(0.5, randAugment.GetProperty("magnitude_std").GetDouble());
            Assert.True(randAugment.GetProperty("increasing").GetBoolean());
            Assert.Equal(official.RandAugmentFill, randAugment.GetProperty("fill").EnumerateArray().Select(v => v.GetDouble()));
            var erasing = augmentation.GetProperty("erasing");
            Assert.Equal(0.25, erasing.GetProperty("probability").GetDouble());
            Assert.Equal("pixel", erasing.GetProperty("mode").GetString());
            Assert.Equal([0.02, 1.0 / 3.0], erasing.GetProperty("area").EnumerateArray().Select(v => v.GetDouble()));
        }

        var script = """
            import json, sys, torch
            sys.path.insert(0, sys.argv[1])
            from scalekd import data
            from scalekd.augment import RandAugment, erase
            settings = json.load(open(sys.argv[1] + "/job.json"))
            a = settings["augmentation"]
            images, labels = data.load(sys.argv[1], settings["data"], settings["class_names"])
            g = torch.Generator().manual_seed(0)
            x = images[:8].float() / 255
            none = RandAugment(dict(a["rand_augment"], ops_per_image=0))
            trip = max(float((none.tensor(img, g) - (img * 255).round() / 255).abs().max()) for img in x)
            fractions, rectangles = [], True
            for img in data.normalize(x, a["mean"], a["std"]):
                erased = erase(img.clone(), g, dict(a["erasing"], probability=1.0))
                changed = (erased != img).any(0)
                rows, cols = changed.any(1).nonzero(), changed.any(0).nonzero()
                box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
                rectangles &= bool(changed.sum() >= 0.95 * box)  # a noise value can equal the pixel it replaces: hardly ever
                fractions.append(float(changed.float().mean()))
            batch = data.Transforms(a).train(images[:16], torch.Generator().manual_seed(1))
            print(json.dumps({"trip": trip, "fractions": fractions, "rectangles": rectangles, "shape": list(batch.shape),
                              "finite": bool(torch.isfinite(batch).all())}))
            """;
        var start = new ProcessStartInfo(TorchJob.Python!, ["-c", script, job.Folder]) { RedirectStandardOutput = true, RedirectStandardError = true };
        var result = ChildProcess.Run(start, "the job's augmentation", TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, result.StandardError);
        using var checks = JsonDocument.Parse(result.StandardOutput);
        Assert.Equal(0, checks.RootElement.GetProperty("trip").GetDouble());
        Assert.True(checks.RootElement.GetProperty("rectangles").GetBoolean());
        foreach (var fraction in checks.RootElement.GetProperty("fractions").EnumerateArray().Select(v => v.GetDouble()))
            // An area drawn in [2 %, 1/3] of the 28 x 28 image, each side then rounded to whole pixels (up to half a
            // pixel more or less on each).
            Assert.True(fraction is >= 0.01 and <= 0.4, fraction.ToString(CultureInfo.InvariantCulture));
        Assert.Equal([16, 3, 32, 32], checks.RootElement.GetProperty("shape").EnumerateArray().Select(v => v.GetInt32()));
        Assert.True(checks.RootElement.GetProperty("finite").GetBoolean());

        // Two steps with the batches augmented in the training process and in two worker processes: each batch's
        // draws depend on (seed, epoch, rank, step) only, so both runs train on the same images, to the last bit.
        var inline = TorchJob.Run(job.Folder, 1, "--float64", "--max-steps", "2", "--workers", "0", "--output", job.File("inline"));
        Assert.Contains("epoch 1/1", inline.StandardOutput);
        TorchJob.Run(job.Folder, 1, "--float64", "--max-steps", "2", "--workers", "2", "--output", job.File("workers"));
        using var initial = SafetensorsWeights.Read(job.File(JobExport.StudentInitFile));
        using var a = SafetensorsWeights.Read(Path.Combine(job.File("inline"), JobExport.StudentFile));
        using var b = SafetensorsWeights.Read(Path.Combine(job.File("workers"), JobExport.StudentFile));
        Assert.Contains(a.Keys, k => !a[k].eq(initial[k]).all().item<bool>());
        foreach (var key in a.Keys)
            Assert.True(a[key].eq(b[key]).all().item<bool>(), $"{key} differs between 0 and 2 workers");
    }
}
