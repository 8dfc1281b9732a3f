using Microsoft.ML;
using Xunit.Abstractions;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Weights;

namespace ScaleKD.Cli.Tests;

/// <summary>Every command on tiny data, in a separate process, as a user runs them.</summary>
[Trait("Category", "Cli")]
[Collection(ToolProcessCollection.Name)]
public sealed partial class CommandTests(TinyImageFolder folder, ITestOutputHelper output) : IClassFixture<TinyImageFolder>
{
    [Fact]
    public void DistillWritesTheModelTheReportAndReadablePlots()
    {
        Assert.True(folder.Distill.ExitCode == 0, folder.Distill.StandardError + folder.Distill.StandardOutput);
        foreach (var file in new[] { "model.zip", "model-None.zip", "report.md", "loss.png", "accuracy.png", "confusion.png" })
            Assert.True(File.Exists(Path.Combine(folder.Output, file)), $"{file} is missing");
        foreach (var png in new[] { "loss.png", "accuracy.png", "confusion.png" })
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(folder.Output, png))[..4]);
        var report = File.ReadAllText(Path.Combine(folder.Output, "report.md"));
        Assert.Contains("| ScaleKD |", report);
        Assert.Contains("| None |", report);
        Assert.Contains("Trouser", report);
        Assert.Contains("report.md", folder.Distill.StandardOutput);
        Assert.Contains("epoch 2/2", folder.Distill.StandardOutput);
        // The teacher is scored on the same test images as the students.
        Assert.Matches(@"\| teacher `vit_pico_patch4_32` \| \d+\.\d\d % \|", report);
    }

    [Fact]
    public void EvaluateScoresATeacherFileOnTheImagesTheReportScoredItOn()
    {
        Assert.NotNull(folder.Teacher);
        var result = folder.Scalekd("evaluate", "--teacher", folder.Teacher, "--data", folder.Images, "--held-out", "--json");
        Assert.True(result.ExitCode == 0, result.StandardError);
        var scored = System.Text.Json.JsonDocument.Parse(result.StandardOutput).RootElement;
        var report = File.ReadAllText(Path.Combine(folder.Output, "report.md"));
        var reported = double.Parse(System.Text.RegularExpressions.Regex.Match(report, @"\| teacher `vit_pico_patch4_32` \| (\d+\.\d\d) % \|").Groups[1].Value,
            System.Globalization.CultureInfo.InvariantCulture) / 100;
        var images = scored.GetProperty("images").GetInt32();
        Assert.Equal(folder.TestImages, images);
        // The same images, size and normalisation; the batches differ (ML.NET's scoring against the trainer's), which may
        // move a logit by float rounding and so flip a prediction that sits on a tie: one image either way.
        Assert.InRange(scored.GetProperty("accuracy").GetDouble(), reported - 1.0 / images - 1e-4, reported + 1.0 / images + 1e-4);
    }

    [Fact]
    public void EvaluatePrintsAccuracyPerClassMetricsAndTheConfusionMatrix()
    {
        var result = folder.Scalekd("evaluate", "--model", folder.Model, "--data", folder.Images);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Contains("top-1 accuracy", result.StandardOutput);
        Assert.Contains("Sneaker", result.StandardOutput);
        Assert.Contains("confusion matrix", result.StandardOutput);
    }

    [Fact]
    public void PredictPrintsTheTopLabelsForEachImage()
    {
        var images = Directory.EnumerateFiles(Path.Combine(folder.Images, "Bag")).Take(2).ToArray();
        var result = folder.Scalekd(["predict", "--model", folder.Model, "--top", "2", .. images]);
        Assert.True(result.ExitCode == 0, result.StandardError);
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.Matches(@": (Trouser|Sneaker|Bag) \d+\.\d %, (Trouser|Sneaker|Bag) \d+\.\d %$", l));
    }

    [Fact]
    public void PredictNamesEachBadFileAndStillClassifiesTheOthers()
    {
        var good = Directory.EnumerateFiles(Path.Combine(folder.Images, "Bag")).First();
        var bytes = File.ReadAllBytes(good);
        var damaged = Path.Combine(folder.Root, "damaged-pixels.png");
        // Intact chunks, garbage where the compressed pixels were: it would decode to a partly black image.
        var pixels = bytes.AsSpan().IndexOf("IDAT"u8) + 4;
        bytes.AsSpan(pixels + 2, 12).Fill(0x5A);
        File.WriteAllBytes(damaged, bytes);
        var missing = Path.Combine(folder.Root, "not-there.png");

        var result = folder.Scalekd("predict", "--model", folder.Model, damaged, good, missing);
        Assert.Equal(1, result.ExitCode);
        Assert.Matches($@"^{System.Text.RegularExpressions.Regex.Escape(good)}: (Trouser|Sneaker|Bag) \d+\.\d %", result.StandardOutput.Trim());
        var errors = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, errors.Length);
        Assert.StartsWith($"error: {damaged}: a PNG whose pixel data ", errors[0]);
        Assert.Equal($"error: {missing}: no such file", errors[1]);
        Assert.Equal("hint: 2 of 3 files could not be classified (named above); use whole PNG, JPEG, BMP, GIF or WebP files", errors[2]);
    }

    [Fact]
    public void EvaluateSaysWhichClassesItLeavesOutAndRefusesDataOfNoneOfTheModelsClasses()
    {
        var png = File.ReadAllBytes(Directory.EnumerateFiles(Path.Combine(folder.Images, "Bag")).First());
        string Folder(string name, params string[] classes)
        {
            var root = Path.Combine(folder.Root, name);
            foreach (var label in classes)
            {
                Directory.CreateDirectory(Path.Combine(root, label));
                for (var i = 0; i < 2; i++)
                    File.WriteAllBytes(Path.Combine(root, label, $"{i}.png"), png);
            }
            return root;
        }

        var partly = folder.Scalekd("evaluate", "--model", folder.Model, "--data", Folder("partly-known", "Bag", "Zebra"));
        Assert.True(partly.ExitCode == 0, partly.StandardError);
        Assert.Equal("warning: 2 images of classes the model does not predict are left out of the scores: Zebra", partly.StandardError.Trim());
        Assert.Contains("(2 images)", partly.StandardOutput);

        var unknown = folder.Scalekd("evaluate", "--model", folder.Model, "--data", Folder("unknown", "Yak", "Zebra"));
        Assert.Equal(1, unknown.ExitCode);
        Assert.StartsWith("error: None of the data's classes (Yak, Zebra) is one the model predicts (", unknown.StandardError);
    }

    [Fact]
    public void AFolderSplitsIntoTrainValidationAndTestByClassAndTheyNeverOverlap()
    {
        var ml = new MLContext(seed: 3);
        var data = DataSets.Open(ml, folder.Images, trainLimit: 21, validationLimit: null);
        var perClass = Directory.EnumerateDirectories(folder.Images).ToDictionary(d => Path.GetFileName(d)!, d => Directory.EnumerateFiles(d).Count());
        var test = Images(ml, data.Test);
        var validation = Images(ml, data.Validation);
        var teacherTrain = Images(ml, data.TeacherTrain);
        var train = Images(ml, data.Train);

        Assert.Equal(perClass.Values.Sum(n => (int)Math.Round(n * 0.2)), test.Count);
        Assert.Equal(perClass.Values.Sum(n => (int)Math.Round(n * 0.1)), validation.Count);
        Assert.Equal(perClass.Values.Sum() - test.Count - validation.Count, teacherTrain.Count);
        Assert.Empty(teacherTrain.Intersect(test));
        Assert.Empty(teacherTrain.Intersect(validation));
        Assert.Empty(validation.Intersect(test));
        // A limited training set is a class-balanced prefix: 21 images of 3 classes are 7 of each.
        Assert.Equal(21, train.Count);
        var labels = ml.Data.CreateEnumerable<ImageBytesRow>(data.Train, reuseRowObject: false).GroupBy(r => r.Label).Select(g => g.Count()).ToList();
        Assert.Equal([7, 7, 7], labels);
    }

    [Fact]
    public void ByDefaultThePretrainedTeacherIsProbedItsAccuracyReportedAndItIsJudgedBeforeDistilling()
    {
        var output = Path.Combine(folder.Root, "pretrained-out");
        var result = folder.Scalekd("distill", "--data", folder.Images, "--epochs", "2", "--batch", "16", "--image-size", "32", "--output", output);
        var all = result.StandardOutput + result.StandardError;
        Assert.Contains("resnet18_imagenet_mlnet, pretrained on ImageNet", all);
        Assert.Matches(@"linear probe: train top-1 \d+\.\d %, validation top-1 \d+\.\d %", all);
        Assert.Contains("The teacher's validation top-1 is", all);
        if (result.ExitCode == 0)
        {
            // It judged the teacher clearly better than the student alone (the baseline, trained first) and distilled.
            Assert.Contains("the teacher is clearly better", all);
            var report = File.ReadAllText(Path.Combine(output, "report.md"));
            Assert.Contains("| ScaleKD |", report);
            Assert.Matches(@"teacher resnet18_imagenet_mlnet: validation top-1 \d+\.\d %", report);
        }
        else
        {
            // Or it stopped before distilling, said why and what to do, and kept the finished baseline.
            Assert.Contains("not clearly better", result.StandardError);
            Assert.Contains("--force", result.StandardError);
            Assert.True(File.Exists(Path.Combine(output, "model-None.zip")));
            Assert.False(File.Exists(Path.Combine(output, "model.zip")));
        }
        // The probe is cached as the head alone; evaluate rebuilds the pretrained network around it. Trouser, sneaker and
        // bag are far apart for ImageNet features: a probe on them scores well above the 33 % of chance.
        var head = Directory.EnumerateFiles(Path.Combine(folder.Root, "cache", "scalekd", "teachers"), "resnet18_imagenet_mlnet-64px-probe-*.head.safetensors").Single();
        var scored = folder.Scalekd("evaluate", "--teacher", head, "--data", folder.Images, "--held-out", "--json");
        Assert.True(scored.ExitCode == 0, scored.StandardError);
        Assert.True(System.Text.Json.JsonDocument.Parse(scored.StandardOutput).RootElement.GetProperty("accuracy").GetDouble() > 0.8, scored.StandardOutput);
    }

    [Fact]
    public void ATeacherThatKnowsNothingStopsTheRunBeforeDistillingUnlessForced()
    {
        var output = Path.Combine(folder.Root, "weak-out");
        // A from-scratch teacher whose learning rate leaves it at its random initialisation.
        var result = folder.Scalekd("distill", "--data", folder.Images, "--preset", "none", "--teacher", "vit_pico_patch4_32", "--teacher-epochs", "1",
            "--teacher-lr", "1e-9", "--student", "resnet_pico", "--image-size", "64", "--epochs", "1", "--batch", "16", "--lr", "5e-3", "--augment", "none", "--output", output);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("not clearly better than chance", result.StandardError);
        Assert.Contains("pass --force", result.StandardError);
        Assert.DoesNotContain("   at ", result.StandardError);
        Assert.False(File.Exists(Path.Combine(output, "model.zip")));
    }

    // Images compared by content (base64 of the encoded bytes).
    static List<string> Images(MLContext ml, IDataView view) =>
        ml.Data.CreateEnumerable<ImageBytesRow>(view, reuseRowObject: false).Select(r => Convert.ToBase64String(r.Image)).ToList();

    /// <summary>Runs compare on the tiny folder (a from-scratch pico ViT teacher, a resnet_pico student, one epoch of
    /// each at 64 px, no augmentation) with the options given, and returns its output folder.</summary>
    string Compare(string outputName, params string[] options)
    {
        var output = Path.Combine(folder.Root, outputName);
        var result = folder.Scalekd(["compare", "--data", folder.Images, "--teacher", "vit_pico_patch4_32", "--students", "resnet_pico",
            "--image-size", "64", "--epochs", "1", "--teacher-epochs", "1", "--augment", "none", "--output", output, .. options]);
        Assert.True(result.ExitCode == 0, result.StandardError + result.StandardOutput);
        return output;
    }

    [Fact]
    public void CompareWritesAMeanAndStdTable()
    {
        var output = Compare("compare-out", "--methods", "None", "ScaleKD", "--seeds", "2", "--batch", "16");
        var table = File.ReadAllText(Path.Combine(output, "compare.md"));
        Assert.Contains("| student | None | ScaleKD |", table);
        Assert.Matches(@"\| resnet_pico \| \d+\.\d\d ± \d+\.\d\d \| \d+\.\d\d ± \d+\.\d\d \|", table);
        Assert.Matches(@"last epoch on all \d+ held-out images", table);
    }

    [Fact]
    public void CompareWithSeveralTrainLimitsIsADataEfficiencyStudyWithATableCsvAndPlot()
    {
        var output = Compare("study-out", "--methods", "None", "--seeds", "2", "--train-limits", "40", "20", "--batch", "8");
        var table = File.ReadAllText(Path.Combine(output, "compare.md"));
        Assert.Contains("| student | labelled images | None |", table);
        Assert.Matches(@"\| resnet_pico \| 20 \| \d+\.\d\d ± \d+\.\d\d \|[^\n]*\n\| resnet_pico \| 40 \| ", table);
        var runs = File.ReadAllLines(Path.Combine(output, "compare.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(["20", "20", "40", "40"], runs.Select(f => f[4]));
        Assert.True(File.Exists(Path.Combine(output, "compare", "resnet_pico-None-40img-seed1", "model.zip")));
        var png = File.ReadAllBytes(Path.Combine(output, "study.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
    }

    [Fact]
    public void CompareAblationAddsScaleKDsPartsOneAtATime()
    {
        var output = Compare("ablation-out", "--ablation", "--seeds", "1", "--batch", "16");
        var table = File.ReadAllText(Path.Combine(output, "compare.md"));
        Assert.Contains("| student | student alone | logit KD | + CAP (spatial view) | + frequency view | + TPP |", table);
        Assert.Matches(@"\| resnet_pico( \| \d+\.\d\d ± \d+\.\d\d){5} \|", table);
        // Each column trained on exactly its parts' loss terms (compare.csv: one line per run).
        var runs = File.ReadAllLines(Path.Combine(output, "compare.csv")).Skip(1).Select(l => l.Split(',')).ToDictionary(f => f[1], f => f[^1]);
        Assert.Equal("ce=", runs["student alone"][..3]);
        Assert.DoesNotContain("kd=", runs["student alone"]);
        Assert.DoesNotContain("s4_", runs["logit KD"]);
        Assert.Contains("s4_spatial", runs["+ CAP (spatial view)"]);
        Assert.DoesNotContain("frequency", runs["+ CAP (spatial view)"]);
        Assert.Contains("s4_frequency", runs["+ frequency view"]);
        Assert.DoesNotContain("s3_", runs["+ frequency view"]);
        Assert.Contains("s3_spatial", runs["+ TPP"]);
    }

    [Fact]
    public void CompareAblationRunsTheNamedColumnsFromTheFirstSeed()
    {
        var output = Compare("ablation-some-out", "--ablation", "tpp", "alone", "--first-seed", "2", "--seeds", "1", "--batch", "16");
        var table = File.ReadAllText(Path.Combine(output, "compare.md"));
        Assert.Contains("seed 2\n", table.ReplaceLineEndings("\n"));
        Assert.Contains("| student | student alone | + TPP |", table);
        var runs = File.ReadAllLines(Path.Combine(output, "compare.csv")).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal([("student alone", "2"), ("+ TPP", "2")], runs.Select(f => (f[1], f[3])));
        Assert.True(File.Exists(Path.Combine(output, "compare", "resnet_pico---TPP-seed2", "model.zip")));
    }

    [Fact]
    public void ImportTeacherListsWhatDiffers()
    {
        TorchBackend.Initialize();
        var checkpoint = Path.Combine(folder.Root, "imagenet-like.safetensors");
        using (var model = ModelRegistry.Create("vit_pico_patch4_32", new ModelOptions(NumClasses: 1000, ImageSize: 32)))
            SafetensorsWeights.Save(model, checkpoint);

        var fits = folder.Scalekd("import-teacher", "--teacher", "vit_pico_patch4_32", "--weights", checkpoint, "--image-size", "32");
        Assert.True(fits.ExitCode == 0, fits.StandardError);
        Assert.Contains("all", fits.StandardOutput);

        var headOnly = folder.Scalekd("import-teacher", "--teacher", "vit_pico_patch4_32", "--weights", checkpoint, "--image-size", "32", "--classes", "10");
        Assert.True(headOnly.ExitCode == 0, headOnly.StandardError);
        Assert.Contains("mis-shaped keys: head.bias", headOnly.StandardOutput);
        Assert.Contains("Only the classifier differs", headOnly.StandardOutput);

        var wrong = folder.Scalekd("import-teacher", "--teacher", "swin_pico_patch2_window4_32", "--weights", checkpoint, "--image-size", "32");
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("missing keys:", wrong.StandardOutput);
        Assert.Contains("unexpected keys: blocks.0.attn.proj.bias", wrong.StandardOutput);
    }

    [Fact]
    public void ErrorsAreOneLineAndAHint()
    {
        var missing = folder.Scalekd("predict", "--model", Path.Combine(folder.Root, "none.zip"), "x.png");
        Assert.Equal(1, missing.ExitCode);
        Assert.Equal(["error: Model '" + Path.Combine(folder.Root, "none.zip") + "' does not exist.", "hint: scalekd distill writes model.zip into its --output folder"],
            missing.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var noData = folder.Scalekd("distill", "--data", Path.Combine(folder.Root, "nowhere"), "--preset", "none");
        Assert.Equal(1, noData.ExitCode);
        Assert.StartsWith("error: --data", noData.StandardError);
        var bare = Path.Combine(folder.Root, "bare.safetensors");
        File.Copy(folder.Teacher!, bare, overwrite: true);
        var unnamed = folder.Scalekd("evaluate", "--teacher", bare, "--data", folder.Images);
        Assert.Equal(1, unnamed.ExitCode);
        Assert.Contains("has no description beside it", unnamed.StandardError);
        Assert.Contains("hint: for timm safetensors, name the model with --teacher-name", unnamed.StandardError);
        var named = folder.Scalekd("evaluate", "--teacher", bare, "--teacher-name", "vit_pico_patch4_32", "--image-size", "64", "--data", folder.Images, "--limit", "30");
        Assert.True(named.ExitCode == 0, named.StandardError);
        var nothing = folder.Scalekd("evaluate", "--data", folder.Images);
        Assert.Equal(1, nothing.ExitCode);
        Assert.StartsWith("error: Nothing to evaluate.", nothing.StandardError);
    }
}
