using System.Diagnostics;
using Microsoft.ML;
using ScaleKD.Tests.Shared;

namespace ScaleKD.Cli.Tests;

/// <summary>
/// Bad input and interruptions, as a user meets them: the tool runs in its own process on real files, and each test
/// checks the exit code, that the message names the file, line or option at fault, and what is left on disk.
/// </summary>
[Trait("Category", "Cli")]
[Collection(ToolProcessCollection.Name)]
public sealed class ReliabilityTests(ReliabilityTests.Data data) : IClassFixture<ReliabilityTests.Data>
{
    /// <summary>27 Fashion-MNIST PNGs in three class folders, and a TSV listing them with three bad lines among them and
    /// a class of a single image at the end.</summary>
    public sealed class Data : IDisposable
    {
        public Data()
        {
            FashionClassFolders.Write(Images, draw: 90);
            var good = Directory.EnumerateFiles(Images, "*.png", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
                .Select(f => $"{Path.GetFileName(Path.GetDirectoryName(f))}\t{Path.GetRelativePath(Root, f)}").ToList();
            var first = Directory.EnumerateFiles(Path.Combine(Images, "Bag")).Order(StringComparer.Ordinal).First();
            var bytes = File.ReadAllBytes(first);
            File.WriteAllBytes(Path.Combine(Root, "truncated.png"), bytes[..(bytes.Length * 2 / 3)]);
            File.WriteAllText(Path.Combine(Root, "notes.png"), "not an image");
            var lines = new List<string>(good);
            lines.Insert(2, "Bag\tmissing.png");      // line 3
            lines.Insert(4, "Bag\ttruncated.png");    // line 5
            lines.Insert(6, "Trouser\tnotes.png");    // line 7
            lines.Add($"Solo\t{Path.GetRelativePath(Root, first)}"); // a class of one image
            File.WriteAllLines(Tsv, lines);
            GoodImages = good.Count;
        }

        public string Root { get; } = Directory.CreateTempSubdirectory("scalekd-reliability-").FullName;
        public string Images => Path.Combine(Root, "images");
        public string Tsv => Path.Combine(Root, "data.tsv");
        public int GoodImages { get; }

        /// <summary>A plain run (no teacher) small enough to take seconds.</summary>
        public string[] Train(string output, string? tsvOrFolder = null, int epochs = 1, params string[] extra) =>
        [
            "distill", "--data", tsvOrFolder ?? Images, "--preset", "none", "--method", "None", "--student", "resnet_pico", "--image-size", "16",
            "--epochs", epochs.ToString(System.Globalization.CultureInfo.InvariantCulture), "--batch", "8", "--augment", "none", "--output", output, .. extra,
        ];

        /// <summary>The tool with a private teacher cache.</summary>
        public ChildProcess.Result Scalekd(params string[] arguments) => Scalekd(Path.Combine(Root, "cache"), arguments);

        public static ChildProcess.Result Scalekd(string cache, params string[] arguments) =>
            ChildProcess.Run("scalekd", new Dictionary<string, string?> { ["XDG_CACHE_HOME"] = cache }, arguments);

        public void Dispose() => Directory.Delete(Root, recursive: true);
    }

    [Fact]
    public void ThePreflightCheckReportsEveryProblemAtOnceBeforeTraining()
    {
        var output = Path.Combine(data.Root, "never-created");
        var cacheUnderAFile = Path.Combine(data.Root, "notes.png", "cache");
        var result = Data.Scalekd(cacheUnderAFile, "distill", "--data", data.Tsv, "--preset", "none", "--teacher", "vit_pico_patch4_32",
            "--student", "resnet_pico", "--image-size", "32", "--validation-limit", "0", "--train-limit", "-3", "--epochs", "1", "--batch", "8", "--teacher-finetune-epochs", "2", "--output", output);

        Assert.Equal(1, result.ExitCode);
        var error = result.StandardError;
        Assert.Contains("--validation-limit 0 must be at least 1", error);
        Assert.Contains("--train-limit -3 must be at least 1", error);
        Assert.Contains("--student resnet_pico at --image-size 32 has a single position", error);
        Assert.Contains("use --image-size 64 or more", error);
        Assert.Contains($"the teacher cache (XDG_CACHE_HOME) '{Path.Combine(cacheUnderAFile, "scalekd", "teachers")}' cannot be created", error);
        Assert.Contains($"{data.Tsv} line 3: {Path.Combine(data.Root, "missing.png")}: no such file", error);
        Assert.Contains($"{data.Tsv} line 5: {Path.Combine(data.Root, "truncated.png")}: a truncated PNG", error);
        Assert.Contains($"{data.Tsv} line 7: {Path.Combine(data.Root, "notes.png")}: not a PNG, JPEG, BMP, GIF or WebP image", error);
        Assert.Contains("--teacher-finetune-epochs fine-tunes a pretrained teacher; 'vit_pico_patch4_32' without --teacher-weights is trained from scratch", error);
        Assert.Contains("8 problems, found before starting:", error);
        Assert.Contains("hint: fix the options and settings named above; --skip-bad-images leaves the bad image files out", error);
        Assert.DoesNotContain("   at ", error);
        Assert.False(Directory.Exists(output), "an early error must leave no output folder");
    }

    [Fact]
    public void CompareRejectsZeroSeedsByTheOptionsName()
    {
        var result = data.Scalekd("compare", "--data", data.Images, "--seeds", "0", "--students", "resnet_pico", "--methods", "None", "--batch", "8",
            "--output", Path.Combine(data.Root, "compare-never"));
        Assert.Equal(1, result.ExitCode);
        Assert.Equal(["error: --seeds 0 must be at least 1.", "hint: fix the options and settings named above"],
            result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void ABatchLargerThanTheTrainingSetIsAnOptionErrorBeforeTraining()
    {
        var output = Path.Combine(data.Root, "batch-never");
        var result = data.Scalekd("distill", "--data", data.Images, "--preset", "none", "--method", "None", "--student", "resnet_pico", "--image-size", "16",
            "--epochs", "1", "--batch", "500", "--output", output);
        Assert.Equal(1, result.ExitCode);
        Assert.Matches(@"^error: --batch 500 is more than the \d+ training images: no whole batch\. Use --batch \d+ or less, or more images\.", result.StandardError);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void CompareNamesAnUnknownAblationColumnAndANegativeFirstSeed()
    {
        var unknown = data.Scalekd("compare", "--data", data.Images, "--students", "resnet_pico", "--ablation", "cap", "tps",
            "--output", Path.Combine(data.Root, "compare-never"));
        Assert.Equal(1, unknown.ExitCode);
        Assert.Equal(["error: --ablation has no column 'tps'.", "hint: name some of: alone logit cap frequency tpp (or none, for all five)"],
            unknown.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var negative = data.Scalekd("compare", "--data", data.Images, "--students", "resnet_pico", "--methods", "None", "--first-seed", "-1", "--batch", "8",
            "--output", Path.Combine(data.Root, "compare-never"));
        Assert.Equal(1, negative.ExitCode);
        Assert.StartsWith("error: --first-seed -1 cannot be negative", negative.StandardError);
        Assert.False(Directory.Exists(Path.Combine(data.Root, "compare-never")));
    }

    [Fact]
    public void CtrlCStopsACompareKeepingTheCutRunsBestModel()
    {
        var output = Path.Combine(data.Root, "compare-stopped");
        var (exit, stdout) = RunUntil(["compare", "--data", data.Images, "--students", "resnet_pico", "--methods", "None", "--seeds", "2", "--image-size", "16",
            "--epochs", "500", "--batch", "8", "--augment", "none", "--output", output], "epoch 2/500", "INT");
        Assert.True(exit == 130, stdout);
        var model = Path.Combine(output, "compare", "resnet_pico-None-seed0", "model.zip");
        Assert.Contains($"Stopped during a None run after 0 finished runs; its best weights so far are saved in {model}.", stdout);
        Assert.True(File.Exists(model));
        Assert.False(File.Exists(Path.Combine(output, "compare.md")));
    }

    [Fact]
    public void SkipBadImagesListsThemAndTrainsOnTheRest()
    {
        var output = Path.Combine(data.Root, "skipped");
        var result = data.Scalekd(data.Train(output, data.Tsv, 1, "--skip-bad-images"));

        Assert.True(result.ExitCode == 0, result.StandardError + result.StandardOutput);
        Assert.Contains("Skipping 3 bad image files (--skip-bad-images):", result.StandardOutput);
        Assert.Contains($"{data.Tsv} line 5: {Path.Combine(data.Root, "truncated.png")}", result.StandardOutput);
        Assert.Contains("warning: class 'Solo' has a single image", result.StandardOutput);
        Assert.True(File.Exists(Path.Combine(output, "model.zip")));
        // The next step it suggests scores the held-out fifth of the same data, not images it trained on.
        Assert.True(result.StandardOutput.ReplaceLineEndings("").Contains($"scalekd evaluate --model {Path.Combine(output, "model.zip")} --data {data.Tsv} --held-out"), result.StandardOutput);
    }

    [Fact]
    public void AFailedReportWriteKeepsTheTrainedModelAndSaysWhereItIs()
    {
        var output = Path.Combine(data.Root, "report-fails");
        // A folder where the plot should go: the rename over it fails, as a full disk fails a write.
        Directory.CreateDirectory(Path.Combine(output, "confusion.png"));
        var result = data.Scalekd(data.Train(output));

        Assert.Equal(1, result.ExitCode);
        var lines = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("error: Writing the report and plots failed:", lines[0]);
        Assert.Equal($"hint: the trained model is saved in {Path.Combine(output, "model.zip")}; score it with: scalekd evaluate --model {Path.Combine(output, "model.zip")} --data FOLDER", lines[1]);
        Assert.Equal(2, lines.Length);
        Assert.True(File.Exists(Path.Combine(output, "model.zip")));
        Assert.Empty(Directory.EnumerateFiles(output, "*.tmp"));
    }

    [Fact]
    public void CtrlCSavesTheBestModelSoFarAndPrintsTheResumeCommandAndSigtermStopsAResumedRun()
    {
        var output = Path.Combine(data.Root, "stopped");
        var (exit, stdout) = RunUntil(data.Train(output, epochs: 500), "epoch 2/500", "INT");

        Assert.True(exit == 130, stdout);
        Assert.Matches(@"Stopped after \d+ epochs of the None student: its best weights so far are saved in .*model\.zip", stdout);
        Assert.True(File.Exists(Path.Combine(output, "model.zip")));
        Assert.True(File.Exists(Path.Combine(output, "checkpoints", "None", "last.ckpt")));
        var resume = stdout.Split('\n').Single(l => l.StartsWith("Resume with: scalekd ", StringComparison.Ordinal))["Resume with: scalekd ".Length..].Trim();
        Assert.EndsWith("--resume", resume);

        // The printed command resumes (announced), and SIGTERM stops it the same way.
        var (resumedExit, resumedOut) = RunUntil(resume.Split(' '), "Resuming the None student from", "TERM");
        Assert.True(resumedExit == 143, resumedOut);
        Assert.Contains($"Resuming the None student from {Path.Combine(output, "checkpoints", "None", "last.ckpt")}", resumedOut);
    }

    [Fact]
    public void AResumedRunsReportListsTheEpochsOfTheRunItResumed()
    {
        var output = Path.Combine(data.Root, "resumed-report");
        // Enough epochs that the stop lands before the end: an epoch of these 18 images takes milliseconds.
        var arguments = data.Train(output, epochs: 300);
        var (exit, stdout) = RunUntil(arguments, "epoch 1/300", "INT");
        Assert.True(exit == 130, stdout);
        var resumed = data.Scalekd([.. arguments, "--resume"]);
        Assert.True(resumed.ExitCode == 0, resumed.StandardError);
        Assert.Contains("Resuming the None student from", resumed.StandardOutput);
        var report = File.ReadAllText(Path.Combine(output, "report.md"));
        Assert.Contains("- teacher: none (method None trains the student alone)", report);
        foreach (var epoch in new[] { 1, 2, 300 })
            Assert.Matches($@"\n\| {epoch} \| \d+\.\d{{4}} \|", report);
    }

    [Fact]
    public void AStopWhileTheTeacherTrainsKeepsItsCheckpointAndTheResumedRunContinuesIt()
    {
        var output = Path.Combine(data.Root, "teacher-stopped");
        string[] arguments =
        [
            "distill", "--data", data.Images, "--preset", "none", "--method", "VanillaKD", "--teacher", "vit_pico_patch4_32", "--teacher-epochs", "500",
            "--student", "resnet_pico", "--image-size", "16", "--epochs", "1", "--batch", "8", "--augment", "none", "--output", output,
        ];
        var (exit, stdout) = RunUntil(arguments, "epoch 2/500", "INT");
        Assert.True(exit == 130, stdout);
        Assert.Contains("Stopped before the VanillaKD student finished an epoch: no model was saved.", stdout);
        var teacherCheckpoint = Path.Combine(output, "checkpoints", "VanillaKD", "teacher", "last.ckpt");
        Assert.True(File.Exists(teacherCheckpoint), stdout);
        Assert.False(File.Exists(Path.Combine(output, "model.zip")));

        var (resumedExit, resumedOut) = RunUntil([.. arguments, "--resume"], "Resuming the teacher's training from", "INT");
        Assert.True(resumedExit == 130, resumedOut);
        Assert.Contains($"Resuming the teacher's training from {teacherCheckpoint}", resumedOut);
    }

    [Fact]
    public void EvaluateScoresTheWholeFolderByDefaultAndRejectsALimitBelowOne()
    {
        var output = Path.Combine(data.Root, "for-evaluate");
        var trained = data.Scalekd(data.Train(output));
        Assert.True(trained.ExitCode == 0, trained.StandardError);
        var model = Path.Combine(output, "model.zip");

        var all = data.Scalekd("evaluate", "--model", model, "--data", data.Images);
        Assert.True(all.ExitCode == 0, all.StandardError);
        Assert.Contains($"{data.GoodImages} images, 3 classes", all.StandardOutput);
        Assert.Contains($"({data.GoodImages} images)", all.StandardOutput);
        Assert.DoesNotContain("top-5", all.StandardOutput); // three classes: top-5 would always be 100 %
        Assert.DoesNotContain("NaN", all.StandardOutput);

        var heldOut = data.Scalekd("evaluate", "--model", model, "--data", data.Images, "--held-out");
        Assert.Matches(@"\d+ images \(the test fifth distill holds out\)", heldOut.StandardOutput);

        var zero = data.Scalekd("evaluate", "--model", model, "--data", data.Images, "--limit", "0");
        Assert.Equal(1, zero.ExitCode);
        Assert.StartsWith("error: --limit 0 must be at least 1.", zero.StandardError);

        var folder = Path.Combine(data.Images, "Bag");
        var predictFolder = data.Scalekd("predict", "--model", model, folder);
        Assert.Equal(1, predictFolder.ExitCode);
        Assert.StartsWith($"error: '{folder}' is a folder, not an image file.", predictFolder.StandardError);
        var topZero = data.Scalekd("predict", "--model", model, "--top", "0", Directory.EnumerateFiles(folder).First());
        Assert.Equal(1, topZero.ExitCode);
        Assert.StartsWith("error: --top 0 must be at least 1.", topZero.StandardError);
    }

    [Fact]
    public void WeightsInAPickleOrUnderAWrapperPrefixGetARemedy()
    {
        ScaleKD.Torch.Native.TorchBackend.Initialize();
        var pickle = Path.Combine(data.Root, "teacher.pt");
        using (var zip = System.IO.Compression.ZipFile.Open(pickle, System.IO.Compression.ZipArchiveMode.Create))
            zip.CreateEntry("archive/data.pkl");
        var fromPickle = data.Scalekd("import-teacher", "--teacher", "vit_pico_patch4_32", "--weights", pickle, "--image-size", "32");
        Assert.Equal(1, fromPickle.ExitCode);
        Assert.Contains($"'{pickle}' is a PyTorch pickle", fromPickle.StandardError);
        Assert.Contains("save_file(torch.load(", fromPickle.StandardError);

        var wrapped = Path.Combine(data.Root, "wrapped.safetensors");
        using (var model = ScaleKD.Torch.Models.ModelRegistry.Create("vit_pico_patch4_32", new ScaleKD.Torch.Models.ModelOptions(NumClasses: 1000, ImageSize: 32)))
            TorchSharp.PyBridge.Safetensors.SaveStateDict(wrapped, model.state_dict().ToDictionary(p => "module." + p.Key, p => p.Value));
        var fromWrapper = data.Scalekd("import-teacher", "--teacher", "vit_pico_patch4_32", "--weights", wrapped, "--image-size", "32");
        Assert.Equal(1, fromWrapper.ExitCode);
        // The remedy, not every key twice: without the prefix, every key matches.
        Assert.Equal(["every key of the file starts with 'module.' (saved from a training wrapper such as DataParallel): save the state dict without that prefix, " +
                "e.g. {k.removeprefix('module.'): v for k, v in state.items()}; without it, every key matches by name",
                "Save the weights without the 'module.' prefix (above), then check again."],
            fromWrapper.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void TrainLimitOnAFolderIsClassBalanced()
    {
        var ml = new MLContext(seed: 0);
        var set = DataSets.Open(ml, data.Images, trainLimit: 6, validationLimit: null, teacherTrainLimit: 9);
        int[] Counts(IDataView view) => ml.Data.CreateEnumerable<ImageBytesRow>(view, reuseRowObject: false)
            .GroupBy(r => r.Label).Select(g => g.Count()).ToArray();
        Assert.Equal([2, 2, 2], Counts(set.Train));
        Assert.Equal([3, 3, 3], Counts(set.TeacherTrain));
    }

    [Fact]
    public void TheTeacherCacheKeyChangesWhenAnImageIsReplacedInPlace()
    {
        var ml = new MLContext(seed: 0);
        var before = DataSets.Open(ml, data.Images, trainLimit: null, validationLimit: null).Fingerprint;
        Assert.Equal(before, DataSets.Open(ml, data.Images, trainLimit: null, validationLimit: null).Fingerprint);
        var image = Directory.EnumerateFiles(Path.Combine(data.Images, "Sneaker")).Order(StringComparer.Ordinal).First();
        var written = File.GetLastWriteTimeUtc(image);
        File.SetLastWriteTimeUtc(image, written.AddMinutes(1)); // rewritten in place: same path, same size
        try
        {
            Assert.NotEqual(before, DataSets.Open(ml, data.Images, trainLimit: null, validationLimit: null).Fingerprint);
        }
        finally
        {
            File.SetLastWriteTimeUtc(image, written);
        }
    }

    [Fact]
    public void AForeignZipIsNamedWithARemedy()
    {
        var foreign = Path.Combine(data.Root, "foreign.zip");
        using (var zip = System.IO.Compression.ZipFile.Open(foreign, System.IO.Compression.ZipArchiveMode.Create))
            zip.CreateEntry("readme.txt");
        var result = data.Scalekd("predict", "--model", foreign, Directory.EnumerateFiles(Path.Combine(data.Images, "Bag")).First());
        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith($"error: '{foreign}' is not an ML.NET model zip this tool can read", result.StandardError);
        Assert.Contains("hint: use a model zip written by scalekd distill", result.StandardError);
    }

    /// <summary>A real full disk: the output folder is a small tmpfs of its own (in a private mount namespace, so nothing
    /// outlives the test), filled up once the run has written its third epoch's checkpoint.</summary>
    [FullDiskFact]
    public void AFullDiskDuringTrainingKeepsTheLastCheckpointAndSaysHowToResume()
    {
        var disk = Directory.CreateDirectory(Path.Combine(data.Root, "small-disk")).FullName;
        var output = Path.Combine(disk, "out");
        var stdout = Path.Combine(data.Root, "full-disk.out");
        const string script = """
            set -u
            disk=$1; stdout=$2; shift 2
            mount -t tmpfs -o size=80m tmpfs "$disk" || exit 97
            "$@" > "$stdout" 2> "$stdout.err" &
            run=$!
            for _ in $(seq 1 1200); do grep -q 'epoch 3/' "$stdout" && break; sleep 0.05; done
            dd if=/dev/zero of="$disk/filler" bs=1M 2> /dev/null
            wait $run
            code=$?
            find "$disk" -name '*.tmp' -printf 'left behind: %p\n'
            [ -s "$disk/out/checkpoints/None/last.ckpt" ] && echo "checkpoint kept"
            cat "$stdout.err" >&2
            exit $code
            """;
        var start = new System.Diagnostics.ProcessStartInfo("unshare") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])["-rm", "bash", "-c", script, "full-disk", disk, stdout, "dotnet", ChildProcess.MetadataValue("scalekd"),
                     .. data.Train(output, epochs: 3000)])
            start.ArgumentList.Add(argument);
        start.Environment["XDG_CACHE_HOME"] = Path.Combine(data.Root, "cache");
        var result = ChildProcess.Run(start, "scalekd on a full disk", TimeSpan.FromMinutes(5));

        Assert.True(result.ExitCode == 1, $"{result.ExitCode}: {result.StandardError}{File.ReadAllText(stdout)}");
        var lines = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Matches($@"^error: Training stopped: Writing {System.Text.RegularExpressions.Regex.Escape(output)}/checkpoints/None/\S+ failed: No space left on device\.$", lines[0]);
        Assert.Equal($"hint: free some disk space, then run the same command with --resume: it continues from the last checkpoint in {Path.Combine(output, "checkpoints")}", lines[1]);
        Assert.Equal("checkpoint kept", result.StandardOutput.Trim());
    }

    /// <summary>Runs the tool until a line of its output contains <paramref name="trigger"/>, sends it the signal, and
    /// returns its exit code and output.</summary>
    (int ExitCode, string Output) RunUntil(string[] arguments, string trigger, string signal)
    {
        // A child inherits an ignored signal, and .NET then never sees it: a shell script's `command &` ignores SIGINT.
        Assert.False(signal == "INT" && SigIntIgnored(), "this test process ignores SIGINT (started in the background by a script?), " +
            "so the tool it starts cannot be stopped with it; run the tests in the foreground or under setsid");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(ChildProcess.MetadataValue("scalekd"));
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        start.Environment["XDG_CACHE_HOME"] = Path.Combine(data.Root, "cache");
        using var process = Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        var seen = new ManualResetEventSlim();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
                return;
            lock (output)
                output.AppendLine(e.Data);
            if (e.Data.Contains(trigger, StringComparison.Ordinal))
                seen.Set();
        };
        process.ErrorDataReceived += (_, e) =>
        {
            lock (output)
                output.AppendLine(e.Data);
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            Assert.True(seen.Wait(TimeSpan.FromMinutes(1)), $"no '{trigger}' in a minute: {output}");
            using (var kill = Process.Start("kill", ["-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                kill.WaitForExit();
            Assert.True(process.WaitForExit(TimeSpan.FromMinutes(1)), $"still running a minute after SIG{signal}: {output}");
            process.WaitForExit(); // drains the output events
        }
        finally
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
        lock (output)
            return (process.ExitCode, output.ToString());
    }

    /// <summary>Whether SIGINT (bit 1 of SigIgn in /proc/self/status) is ignored by this process.</summary>
    static bool SigIntIgnored()
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & 0b10) != 0;
    }
}

/// <summary>A test that needs a tmpfs of its own: <c>unshare -rm</c> (a user and mount namespace, no root needed where
/// the kernel allows unprivileged user namespaces) must work, as it does on Linux CI machines.</summary>
public sealed class FullDiskFactAttribute : FactAttribute
{
    static readonly Lazy<string?> Why = new(() =>
    {
        try
        {
            using var probe = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("unshare", ["-rm", "true"]) { RedirectStandardError = true })!;
            probe.WaitForExit();
            return probe.ExitCode == 0 ? null : "unshare -rm is refused here (no user namespaces), so no private tmpfs can be mounted";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "no unshare command (util-linux) here";
        }
    });

    public FullDiskFactAttribute() => Skip = Why.Value;
}

