using ScaleKD.LoadTest;

namespace ScaleKD.Samples.Tests;

[Trait("Category", "Samples")]
public sealed class LoadTestTests
{
    [Fact]
    public async Task OnlyLoopbackAddressesAreLoaded()
    {
        var settings = new LoadSettings(new Uri("http://192.0.2.1:5000/"), [1], "x.png", 1, TimeSpan.FromSeconds(1));
        var error = await Assert.ThrowsAsync<ArgumentException>(() => LoadRunner.RunAsync(settings));
        Assert.Contains("loopback", error.Message);
    }

    [Fact]
    public void PercentilesAreNearestRank()
    {
        var values = Enumerable.Range(1, 100).Select(i => (double)i).ToList();
        Assert.Equal(50, LoadRunner.Percentile(values, 0.50));
        Assert.Equal(99, LoadRunner.Percentile(values, 0.99));
        Assert.Equal(7, LoadRunner.Percentile([7.0], 0.99));
    }
}
