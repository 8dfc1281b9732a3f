using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.Tests.Shared;
using TorchSharp;

namespace ScaleKD.MLNet.Tests;

public sealed class ModelZipTests : IDisposable
{
    const int InputSize = 6;
    const int Classes = 3;
    readonly string _work = Directory.CreateTempSubdirectory("scalekd-zip-").FullName;

    sealed class Row
    {
        [VectorType(InputSize)] public float[] Raw { get; set; } = [];
    }

    sealed class Scored
    {
        public float[] Score { get; set; } = [];
    }

    static Row[] MakeRows(int count)
    {
        var random = new Random(3);
        return Enumerable.Range(0, count)
            .Select(_ => new Row { Raw = Enumerable.Range(0, InputSize).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray() })
            .ToArray();
    }

    /// <summary>A real ML.NET stage (CopyColumns) followed by the ScaleKD transformer, saved as one zip.</summary>
    static (MLContext ml, ITransformer model, IDataView data) SavePipeline(Row[] rows, string zip)
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(rows);
        torch.manual_seed(11);
        var copy = ml.Transforms.CopyColumns("Features", nameof(Row.Raw)).Fit(data);
        var model = copy.Append(new ScaleKDTransformer(ml, "Features", "Score", InputSize, Classes));
        ml.Model.Save(model, data.Schema, zip);
        return (ml, model, data);
    }

    static string Bits(float[] values) => string.Join(' ', values.Select(v => BitConverter.SingleToInt32Bits(v).ToString("x8")));

    [Fact]
    public void AZipSavedHereLoadsInAFreshProcessWithIdenticalScores()
    {
        var rows = MakeRows(20);
        var zip = Path.Combine(_work, "model.zip");
        var (ml, model, data) = SavePipeline(rows, zip);
        var expected = ml.Data.CreateEnumerable<Scored>(model.Transform(data), reuseRowObject: false).Select(s => Bits(s.Score)).ToList();
        Assert.All(expected, line => Assert.Equal(Classes, line.Split(' ').Length));

        var rowsFile = Path.Combine(_work, "rows.txt");
        File.WriteAllLines(rowsFile, rows.Select(r => string.Join(' ', r.Raw.Select(v => v.ToString("R")))));
        var result = ChildProcess.Run("ScaleKD.TestHost", null, "score-zip", zip, rowsFile);

        Assert.True(result.ExitCode == 0, result.StandardError);
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(expected, lines.Where(l => l.StartsWith("transform ")).Select(l => l["transform ".Length..]));
        Assert.Equal(expected, lines.Where(l => l.StartsWith("engine ")).Select(l => l["engine ".Length..]));
    }

    [Fact]
    public void PredictionEngineAndTransformAgreeInProcess()
    {
        var rows = MakeRows(5);
        var (ml, model, data) = SavePipeline(rows, Path.Combine(_work, "model.zip"));
        using var engine = ml.Model.CreatePredictionEngine<Row, Scored>(model);
        var batched = ml.Data.CreateEnumerable<Scored>(model.Transform(data), reuseRowObject: false).ToList();
        for (var i = 0; i < rows.Length; i++)
        {
            var single = engine.Predict(rows[i]).Score;
            Assert.Equal(Bits(batched[i].Score), Bits(single));
            Assert.Equal(1.0, single.Sum(), 5);
        }
    }

    [Fact]
    public void ATruncatedWeightsEntryFailsWithAClearError()
    {
        var zip = Path.Combine(_work, "model.zip");
        SavePipeline(MakeRows(4), zip);
        using (var archive = ZipFile.Open(zip, ZipArchiveMode.Update))
        {
            var entry = archive.Entries.Single(e => e.FullName.EndsWith("StudentWeights"));
            var name = entry.FullName;
            byte[] bytes;
            using (var stream = entry.Open())
            using (var buffer = new MemoryStream())
            {
                stream.CopyTo(buffer);
                bytes = buffer.ToArray();
            }
            entry.Delete();
            using var truncated = archive.CreateEntry(name).Open();
            truncated.Write(bytes, 0, bytes.Length / 2);
        }

        var ml = new MLContext(seed: 1);
        var error = Assert.ThrowsAny<Exception>(() => ml.Model.Load(zip, out _));
        var messages = string.Join(" | ", Flatten(error).Select(e => e.Message));
        Assert.Contains("StudentWeights", messages);
    }

    [Fact]
    public void AWrongInputColumnTypeIsNamedInTheError()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(MakeRows(2));
        using var transformer = new ScaleKDTransformer(ml, nameof(Row.Raw), "Score", InputSize + 1, Classes);
        var error = Assert.ThrowsAny<Exception>(() => transformer.GetOutputSchema(data.Schema));
        Assert.Contains(nameof(Row.Raw), error.Message);
        Assert.Contains($"Vector<Single, {InputSize + 1}>", error.Message);
    }

    static IEnumerable<Exception> Flatten(Exception e)
    {
        for (Exception? current = e; current is not null; current = current.InnerException)
            yield return current;
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}
