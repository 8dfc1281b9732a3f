using System.Diagnostics;
using System.Net.Http.Headers;

namespace ScaleKD.LoadTest;

public sealed record LoadSettings(Uri BaseUrl, byte[] Image, string FileName, int Clients, TimeSpan Duration)
{
    /// <summary>A stop however fast the server answers.</summary>
    public const int MaxRequests = 1_000_000;
}

public sealed record LoadResult(int Requests, int Errors, TimeSpan Elapsed, double P50Milliseconds, double P99Milliseconds, string? FirstError)
{
    public double RequestsPerSecond => Requests / Elapsed.TotalSeconds;

    public string Describe() =>
        $"requests {Requests}, errors {Errors}, p50 {P50Milliseconds:F1} ms, p99 {P99Milliseconds:F1} ms, {RequestsPerSecond:F1} req/s over {Elapsed.TotalSeconds:F1} s"
        + (FirstError is null ? "" : $"\nfirst error: {FirstError}");
}

/// <summary>
/// Clients that each post the image to /predict (multipart field "image") back to back until the time is up. Only
/// loopback addresses are accepted: this is for measuring a server on this machine.
/// </summary>
public static class LoadRunner
{
    public static async Task<LoadResult> RunAsync(LoadSettings settings)
    {
        if (!settings.BaseUrl.IsLoopback)
            throw new ArgumentException($"Refusing to load {settings.BaseUrl.Host}: only loopback addresses (127.0.0.1, localhost, [::1]) are allowed.");
        if (settings.Clients is < 1 or > 1024)
            throw new ArgumentException($"Clients must be between 1 and 1024; got {settings.Clients}.");
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = settings.Clients, UseProxy = false })
        {
            BaseAddress = settings.BaseUrl,
            Timeout = TimeSpan.FromSeconds(30),
        };
        var latencies = new List<double>[settings.Clients];
        var errors = 0;
        var requests = 0;
        string? firstError = null;
        using var stop = new CancellationTokenSource(settings.Duration);
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, settings.Clients).Select(client => Task.Run(async () =>
        {
            var mine = latencies[client] = [];
            while (!stop.IsCancellationRequested && Interlocked.Increment(ref requests) <= LoadSettings.MaxRequests)
            {
                var started = Stopwatch.GetTimestamp();
                var error = await PostAsync(http, settings);
                mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                if (error is not null)
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, error, null);
                }
            }
        })));
        var elapsed = clock.Elapsed;
        var all = latencies.SelectMany(l => l).Order().ToList();
        return new LoadResult(all.Count, errors, elapsed, Percentile(all, 0.50), Percentile(all, 0.99), firstError);
    }

    /// <summary>Null on success, else what went wrong.</summary>
    static async Task<string?> PostAsync(HttpClient http, LoadSettings settings)
    {
        try
        {
            using var content = new MultipartFormDataContent();
            var image = new ByteArrayContent(settings.Image);
            image.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            content.Add(image, "image", settings.FileName);
            // Not cancelled at the deadline: a request in flight is finished and counted.
            using var response = await http.PostAsync("predict", content);
            var body = await response.Content.ReadAsStringAsync();
            return response.IsSuccessStatusCode ? null : $"HTTP {(int)response.StatusCode}: {body}";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return e.Message;
        }
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double fraction) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(fraction * sorted.Count) - 1, 0, sorted.Count - 1)];
}
