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
}
