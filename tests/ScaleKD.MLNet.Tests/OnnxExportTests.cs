using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace ScaleKD.MLNet.Tests;

/// <summary>
/// <see cref="ScaleKDTransformer.ExportOnnx(Stream)"/> from the user's side: the student of a saved zip (the committed
/// mobilenetv1_pico, 32 px), written as ONNX and run by ONNX Runtime on the pixels of PNG files at the student's size,
/// gives the probabilities and labels the zip gives for the same files.
/// </summary>
[Trait("Category", "MLNet")]
public sealed class OnnxExportTests
{
    // The whole-model float32 parity bound of the Torch tests (ParityAssert.ModelRelative): ONNX Runtime and libtorch
    // sum in different orders; probabilities lie in [0, 1].
    const double Float32Bound = 1e-4;
    const int Size = 32;

    public sealed class BytesRow
    {
        public string Label { get; set; } = "";
        [VectorType] public byte[] Image { get; set; } = [];
    }

    public sealed class Scored
    {
        public float[] Score { get; set; } = [];
    }

    [Fact]
    public void TheExportedGraphScoresAsTheZipDoes()
    {
        var ml = new MLContext(seed: 0);
        var model = ml.Model.Load(Path.Combine(AppContext.BaseDirectory, "models", "student-format-00010003.zip"), out _);
        var student = ((IEnumerable<ITransformer>)model).OfType<ScaleKDTransformer>().Single();
        Assert.Equal(Size, student.Preprocessing.ImageSize);

        // Gray images at the student's size (no resize on either side), R = G = B as the PNG decoder gives them.
        var random = new Random(5);
        var grays = Enumerable.Range(0, 8).Select(_ => Enumerable.Range(0, Size * Size).Select(_ => (byte)random.Next(256)).ToArray()).ToList();
        var folder = Directory.CreateTempSubdirectory("scalekd-onnx-mlnet-").FullName;
        try
        {
            var rows = grays.Select((gray, i) =>
            {
                var path = Path.Combine(folder, $"{i}.png");
                FashionPngFolder.SaveGrayAsPng(gray, Size, Size, path);
                return new BytesRow { Label = "Bag", Image = File.ReadAllBytes(path) };
            }).ToList();
            var expected = ml.Data.CreateEnumerable<Scored>(model.Transform(ml.Data.LoadFromEnumerable(rows)), reuseRowObject: false).Select(s => s.Score).ToList();

            using var stream = new MemoryStream();
            student.ExportOnnx(stream);
            var onnxPath = Path.Combine(folder, "student.onnx");
            student.ExportOnnx(onnxPath);
            Assert.Equal(stream.ToArray(), File.ReadAllBytes(onnxPath));

            var pixels = new DenseTensor<float>([grays.Count, 3, Size, Size]);
            for (var n = 0; n < grays.Count; n++)
                for (var c = 0; c < 3; c++)
                    for (var p = 0; p < Size * Size; p++)
                        pixels[n, c, p / Size, p % Size] = grays[n][p];
            using var session = new InferenceSession(stream.ToArray());
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("image", pixels)]);
            var probabilities = results.Single(r => r.Name == "probabilities").AsTensor<float>();
            var labels = results.Single(r => r.Name == "label").AsTensor<long>().ToArray();
            var classes = student.ClassNames.Count;
            for (var n = 0; n < grays.Count; n++)
            {
                var actual = Enumerable.Range(0, classes).Select(c => probabilities[n, c]).ToArray();
                var largest = actual.Zip(expected[n], (a, e) => Math.Abs(a - e)).Max();
                Assert.True(largest <= Float32Bound, $"image {n}: probabilities differ by {largest:E2}");
                var ranked = expected[n].OrderDescending().ToArray();
                if (ranked[0] - ranked[1] > 2 * Float32Bound)
                    Assert.Equal(Array.IndexOf(expected[n], ranked[0]), (int)labels[n]);
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
