using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using ScaleKD.MLNet.Tests;
using ScaleKD.Torch.Training.Data;
using ScaleKD.WebApi;

namespace ScaleKD.Samples.Tests;

[Trait("Category", "Samples")]
[Collection(SampleModelCollection.Name)]
public sealed class WebApiTests : IDisposable
{
    const long MaxImageBytes = 256 * 1024;
    const long MaxImagePixels = 100 * 100;

    readonly SampleModel _model;
    readonly ApiFactory _api;
    readonly HttpClient _client;

    public WebApiTests(SampleModel model)
    {
        _model = model;
        _api = new ApiFactory(new Dictionary<string, string?>
        {
            ["ScaleKD:ModelPath"] = model.ZipPath,
            ["ScaleKD:MaxImageBytes"] = MaxImageBytes.ToString(),
            ["ScaleKD:MaxImagePixels"] = MaxImagePixels.ToString(),
        });
        _client = _api.CreateClient();
    }

    public void Dispose()
    {
        _client.Dispose();
        _api.Dispose();
    }

    sealed record PredictionJson(string Label, Dictionary<string, float> Scores);

    static MultipartFormDataContent Form(byte[] bytes, string field = "image", string fileName = "upload.png")
    {
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        return new MultipartFormDataContent { { file, field, fileName } };
    }

    async Task<PredictionJson> PredictAsync(string imagePath)
    {
        using var response = await _client.PostAsync("/predict", Form(await File.ReadAllBytesAsync(imagePath)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<PredictionJson>())!;
    }

    async Task<ProblemDetails> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string detailPart)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = (await response.Content.ReadFromJsonAsync<ProblemDetails>())!;
        Assert.Contains(detailPart, problem.Detail);
        return problem;
    }

    [Fact]
    public async Task AnUploadedImageGetsTheLabelAndProbabilitiesOfAnInProcessPredictionEngine()
    {
        var images = _model.TestImages.Take(6).ToList();
        var expected = _model.PredictInProcess(images);
        for (var i = 0; i < images.Count; i++)
        {
            var prediction = await PredictAsync(images[i]);
            Assert.Contains(prediction.Label, FashionMnist.ClassNames);
            Assert.Equal(FashionMnist.ClassNames.Order(), prediction.Scores.Keys.Order());
            Assert.Equal(1.0, prediction.Scores.Values.Sum(), 4);
            Assert.Equal(expected[i].PredictedLabel, prediction.Label);
            // The scores map follows the model's class order once sorted back, and matches to float precision.
            var ordered = FashionMnist.ClassNames.Select(name => prediction.Scores[name]).ToArray();
            var slots = _api.Services.GetRequiredService<ImageClassifier>().ClassNames;
            Assert.Equal(expected[i].Score, slots.Select(name => prediction.Scores[name]).ToArray());
            Assert.Equal(ordered.Max(), prediction.Scores[prediction.Label]);
        }
    }

    [Fact]
    public async Task ARawImageBodyWorksAndTopKeepsTheMostProbableClassesInOrder()
    {
        var bytes = await File.ReadAllBytesAsync(_model.TestImages[0]);
        var full = await PredictAsync(_model.TestImages[0]);
        using var body = new ByteArrayContent(bytes);
        body.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        using var response = await _client.PostAsync("/predict?top=3", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var scores = json.GetProperty("scores").EnumerateObject().Select(p => (p.Name, Value: p.Value.GetSingle())).ToList();
        Assert.Equal(full.Label, json.GetProperty("label").GetString());
        Assert.Equal(full.Scores.OrderByDescending(p => p.Value).Take(3).Select(p => (p.Key, p.Value)), scores);

        using var badTop = await _client.PostAsync("/predict?top=0", Form(bytes));
        await AssertProblemAsync(badTop, HttpStatusCode.BadRequest, "top");
    }

    [Fact]
    public async Task BadImagesAreRejectedWith400AndAReason()
    {
        using (var garbage = await _client.PostAsync("/predict", Form("this is not a PNG"u8.ToArray())))
            await AssertProblemAsync(garbage, HttpStatusCode.BadRequest, "not an image");
        using (var empty = await _client.PostAsync("/predict", Form([])))
            await AssertProblemAsync(empty, HttpStatusCode.BadRequest, "no bytes");
        var png = await File.ReadAllBytesAsync(_model.TestImages[0]);
        using (var truncated = await _client.PostAsync("/predict", Form(png[..20])))
            await AssertProblemAsync(truncated, HttpStatusCode.BadRequest, "not an image");
        // A readable header, then garbage instead of the compressed pixels.
        var corrupt = png.ToArray();
        var pixelData = corrupt.AsSpan().IndexOf("IDAT"u8) + 4;
        corrupt.AsSpan(pixelData, 16).Fill(0x5A);
        using (var badPixels = await _client.PostAsync("/predict", Form(corrupt)))
            await AssertProblemAsync(badPixels, HttpStatusCode.BadRequest, "a PNG whose pixel data is damaged");
        // Cut short inside its pixel data: Skia would decode the rows it has and leave the rest black.
        using (var cutShort = await _client.PostAsync("/predict", Form(png[..(pixelData + 8)])))
            await AssertProblemAsync(cutShort, HttpStatusCode.BadRequest, "truncated PNG");
        using (var wrongField = await _client.PostAsync("/predict", Form(png, field: "picture")))
            await AssertProblemAsync(wrongField, HttpStatusCode.BadRequest, "'image'");
        using (var text = await _client.PostAsync("/predict", new StringContent("hello")))
            await AssertProblemAsync(text, HttpStatusCode.UnsupportedMediaType, "multipart/form-data");

        // More pixels than allowed, judged from the header before decoding.
        var large = Path.Combine(_model.Images.Folder, "large.png");
        FashionPngFolder.SaveGrayAsPng(new byte[128 * 128], 128, 128, large);
        using (var tooManyPixels = await _client.PostAsync("/predict", Form(await File.ReadAllBytesAsync(large))))
            await AssertProblemAsync(tooManyPixels, HttpStatusCode.BadRequest, "128×128");

        // The engines that saw the failures still score correctly.
        Assert.Equal(_model.PredictInProcess([_model.TestImages[0]])[0].PredictedLabel, (await PredictAsync(_model.TestImages[0])).Label);
    }

    [Fact]
    public async Task ATruncatedMultipartBodyIs400Not500()
    {
        var png = await File.ReadAllBytesAsync(_model.TestImages[0]);
        // A form cut off in the middle of its file: no closing boundary.
        var head = "--cut\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"u8.ToArray();
        using var body = new ByteArrayContent([.. head, .. png[..(png.Length / 2)]]);
        body.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=cut");
        using var response = await _client.PostAsync("/predict", body);
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "The multipart form could not be read");
    }

    [Fact]
    public void TheDefaultPixelLimitIs4096By4096()
    {
        Assert.Equal(4096L * 4096, new ScaleKDServiceOptions().MaxImagePixels);
    }

    [Fact]
    public async Task AnOversizedUploadIsRejectedWith413()
    {
        var oversized = new byte[MaxImageBytes + 1];
        using (var form = await _client.PostAsync("/predict", Form(oversized)))
            await AssertProblemAsync(form, HttpStatusCode.RequestEntityTooLarge, $"at most {MaxImageBytes} bytes");
        using var raw = new ByteArrayContent(oversized);
        raw.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        using (var body = await _client.PostAsync("/predict", raw))
            await AssertProblemAsync(body, HttpStatusCode.RequestEntityTooLarge, $"at most {MaxImageBytes} bytes");
        // Without Content-Length the body is cut off while it is read.
        using var chunked = new StreamContent(new MemoryStream(oversized));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/predict") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        using (var streamed = await _client.SendAsync(request))
            await AssertProblemAsync(streamed, HttpStatusCode.RequestEntityTooLarge, "over");
    }

    [Fact]
    public async Task HealthReportsTheStudentAndItsClasses()
    {
        var health = JsonDocument.Parse(await _client.GetStringAsync("/health")).RootElement;
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal("scalekd", health.GetProperty("kind").GetString());
        Assert.Equal("resnet_pico", health.GetProperty("student").GetString());
        Assert.Equal(10, health.GetProperty("classes").GetInt32());
        Assert.Equal(64, health.GetProperty("imageSize").GetInt32());
    }

    [Fact]
    public async Task ThirtyTwoParallelRequestsAllSucceedWithTheSequentialResults()
    {
        var images = _model.TestImages.Take(8).ToList();
        var sequential = new Dictionary<string, PredictionJson>();
        foreach (var image in images)
            sequential[image] = await PredictAsync(image);

        var uploads = Enumerable.Range(0, 32).Select(i => images[i % images.Count]).ToList();
        var parallel = await Task.WhenAll(uploads.Select(image => Task.Run(() => PredictAsync(image))));
        for (var i = 0; i < uploads.Count; i++)
        {
            Assert.Equal(sequential[uploads[i]].Label, parallel[i].Label);
            Assert.Equal(sequential[uploads[i]].Scores, parallel[i].Scores);
        }
    }

    [Fact]
    public async Task ShuttingDownDisposesTheEnginesAndTheModel()
    {
        using var api = new ApiFactory(new Dictionary<string, string?> { ["ScaleKD:ModelPath"] = _model.ZipPath });
        using (var client = api.CreateClient())
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode);
        var classifier = api.Services.GetRequiredService<ImageClassifier>();
        await api.DisposeAsync();
        var image = await File.ReadAllBytesAsync(_model.TestImages[0]);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => classifier.ScoreAsync(image, CancellationToken.None));
    }
}
