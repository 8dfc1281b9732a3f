using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using ScaleKD.WebApi;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddOptions<ScaleKDServiceOptions>().BindConfiguration(ScaleKDServiceOptions.Section);
builder.Services.AddSingleton(services =>
{
    var options = services.GetRequiredService<IOptions<ScaleKDServiceOptions>>().Value;
    return ImageClassifier.Load(options.ModelPath, options.EffectiveConcurrency);
});
// Uploads stay in memory (never buffered to temp files) and are bounded by the server as well as by the handler.
builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<ScaleKDServiceOptions>>((kestrel, options) =>
    kestrel.Limits.MaxRequestBodySize = options.Value.MaxRequestBytes);
builder.Services.AddOptions<FormOptions>().Configure<IOptions<ScaleKDServiceOptions>>((form, options) =>
{
    form.MultipartBodyLengthLimit = options.Value.MaxRequestBytes;
    form.MemoryBufferThreshold = (int)Math.Min(options.Value.MaxRequestBytes, int.MaxValue);
});
builder.Services.AddProblemDetails();

var app = builder.Build();
try
{
    // Load the model now, so that a bad ModelPath stops the start instead of failing the first request.
    var classifier = app.Services.GetRequiredService<ImageClassifier>();
    app.Logger.LogInformation("Serving {Student} ({Kind} zip, {Classes} classes, {Size} px)", classifier.Model.Student, classifier.Model.Kind,
        classifier.ClassNames.Count, classifier.Model.ImageSize);
}
catch (Exception e)
{
    app.Logger.LogCritical("Start-up failed: {Reason}", e.Message);
    // Run as the application, the line above says it all: exit 1, not an unhandled exception (which aborts with a
    // stack trace). Hosted by WebApplicationFactory (the entry assembly is then the test host), the exception is how
    // the start-up failure reaches the test.
    if (System.Reflection.Assembly.GetEntryAssembly() == typeof(Program).Assembly)
    {
        // The console logger writes from a background queue; disposing the app flushes it, or a busy machine could
        // exit before the line is written (seen once in CI: exit 1, empty output).
        ((IDisposable)app).Dispose();
        return 1;
    }
    throw;
}

app.UseExceptionHandler();
app.UseStatusCodePages();

app.MapPost("/predict", async (HttpRequest request, ImageClassifier classifier, IOptions<ScaleKDServiceOptions> options, int? top,
    CancellationToken cancellationToken) =>
{
    if (top is <= 0)
        return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad top", detail: "top must be a positive number of classes.");
    try
    {
        var image = await ImageUpload.ReadAsync(request, options.Value, cancellationToken);
        float[] scores;
        try
        {
            scores = await classifier.ScoreAsync(image, cancellationToken);
        }
        catch (InvalidDataException)
        {
            // The header was readable, the pixels were not.
            throw ImageUpload.Undecodable(image.Length);
        }
        return Results.Ok(PredictionResponse.From(classifier.ClassNames, scores, top));
    }
    catch (UploadException e)
    {
        return Results.Problem(statusCode: e.StatusCode, title: e.Title, detail: e.Message);
    }
});

app.MapGet("/health", (ImageClassifier classifier) =>
    Results.Ok(new { status = "ok", kind = classifier.Model.Kind, student = classifier.Model.Student, classes = classifier.ClassNames.Count, imageSize = classifier.Model.ImageSize }));

app.Run();
return 0;

/// <summary>Visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
