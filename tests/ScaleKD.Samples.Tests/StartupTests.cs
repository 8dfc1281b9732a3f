namespace ScaleKD.Samples.Tests;

[Trait("Category", "Samples")]
[Collection(SampleModelCollection.Name)]
public sealed class StartupTests(SampleModel model)
{
    static string StartupError(string? modelPath)
    {
        using var api = new ApiFactory(new Dictionary<string, string?> { ["ScaleKD:ModelPath"] = modelPath });
        var error = Assert.ThrowsAny<Exception>(() => api.CreateClient());
        return error.Message;
    }

    [Fact]
    public void AMissingOrUnreadableModelStopsTheStartWithAClearMessage()
    {
        Assert.Contains("ScaleKD:ModelPath", StartupError(null));
        Assert.Contains("ScaleKD__ModelPath", StartupError(""));

        var missing = Path.Combine(model.Images.Folder, "no-such-model.zip");
        var notFound = StartupError(missing);
        Assert.Contains(missing, notFound);
        Assert.Contains("does not exist", notFound);

        var notAZip = Path.Combine(model.Images.Folder, "not-a-model.zip");
        File.WriteAllText(notAZip, "not a zip");
        var unreadable = StartupError(notAZip);
        Assert.Contains(notAZip, unreadable);
        Assert.Contains("could not be loaded", unreadable);
    }

    [Fact]
    public async Task RunAsAnApplicationABadModelPathExits1WithOneLineAndNoAbort()
    {
        var missing = Path.Combine(model.Images.Folder, "no-such-model.zip");
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(typeof(Program).Assembly.Location);
        start.Environment["ScaleKD__ModelPath"] = missing;
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(1)), "the API kept running with a bad model path");
        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 1, output);
        Assert.Contains($"Start-up failed: The model zip '{missing}' (ScaleKD:ModelPath) does not exist.", output);
        Assert.DoesNotContain("Unhandled exception", output);
        Assert.DoesNotContain("   at ", output);
    }
}
