using Microsoft.ML;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Weights;

namespace ScaleKD.Cli.Tests;

/// <summary>Every command on tiny data, in a separate process, as a user runs them.</summary>
[Trait("Category", "Cli")]
[Collection(ToolProcessesCollection.Name)]
public sealed class CommandTests(TinyImageFolder folder) : IClassFixture<TinyImageFolder>
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
    public void TheHeldOutFifthIsScoredInFullAndNeverTrainedOn()
    {
        var ml = new MLContext(seed: 3);
        var data = DataSets.Open(ml, folder.Images, trainLimit: 20, validationLimit: 7);
        var all = Directory.EnumerateFiles(folder.Images, "*.png", SearchOption.AllDirectories).Count();
        var test = Images(ml, data.Test);
        var validation = Images(ml, data.Validation);
        var teacherTrain = Images(ml, data.TeacherTrain);

        Assert.Equal(all / 5, test.Count);
        Assert.Equal(7, validation.Count);
        Assert.Subset(test.ToHashSet(), validation.ToHashSet());
        Assert.Equal(20, Images(ml, data.Train).Count);
        Assert.Equal(all - all / 5, teacherTrain.Count);
        Assert.Empty(teacherTrain.Intersect(test));
    }

    // Images compared by content (base64 of the encoded bytes).
    static List<string> Images(MLContext ml, IDataView view) =>
        ml.Data.CreateEnumerable<ImageBytesRow>(view, reuseRowObject: false).Select(r => Convert.ToBase64String(r.Image)).ToList();

    [Fact]
    public void CompareWritesAMeanAndStdTable()
    {
        var output = Path.Combine(folder.Root, "compare-out");
        var result = folder.Scalekd("compare", "--data", folder.Images, "--teacher", "vit_pico_patch4_32", "--students", "resnet_pico",
            "--methods", "None", "ScaleKD", "--seeds", "2", "--image-size", "64", "--epochs", "1", "--teacher-epochs", "1", "--batch", "16",
            "--augment", "none", "--output", output);
        Assert.True(result.ExitCode == 0, result.StandardError + result.StandardOutput);
        var table = File.ReadAllText(Path.Combine(output, "compare.md"));
        Assert.Contains("| student | None | ScaleKD |", table);
        Assert.Matches(@"\| resnet_pico \| \d+\.\d\d ± \d+\.\d\d \| \d+\.\d\d ± \d+\.\d\d \|", table);
        Assert.Contains($"last epoch on all {Directory.EnumerateFiles(folder.Images, "*.png", SearchOption.AllDirectories).Count() / 5} held-out images", table);
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
    }
}
