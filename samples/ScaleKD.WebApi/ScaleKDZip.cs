using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.MLNet;

namespace ScaleKD.WebApi;

/// <summary>
/// A zip with a ScaleKD step, scored by TorchSharp. The zip's pipeline starts from an image path; the web API has the
/// file's bytes instead, so only the zip's <see cref="ScaleKDTransformer"/> is used, fed with the encoded bytes as a
/// Vector&lt;Byte&gt; column, which it decodes itself. Compiled only where the app references ScaleKD.MLNet (the
/// default build; <c>-p:ServeScaleKD=false</c> leaves it and libtorch out).
/// </summary>
static class ScaleKDZip
{
    public static ServedModel Open(MLContext ml, ITransformer loaded, string path)
    {
        var students = loaded is IEnumerable<ITransformer> chain ? chain.OfType<ScaleKDTransformer>().ToList() : [];
        if (loaded is ScaleKDTransformer single)
            students.Add(single);
        if (students.Count != 1)
            throw new InvalidDataException($"The model zip '{path}' holds {students.Count} ScaleKD students and is not a zip written by scalekd export; this API serves a zip with exactly one student.");
        var student = students[0];
        return new ServedModel("scalekd", student.Student.GetName(), student.ClassNames, student.Preprocessing.ImageSize, () => new Scorer(ml, student));
    }

    sealed class Scorer : IImageScorer
    {
        readonly PredictionEngine<ImageInput, ScoreOutput> _engine;

        public Scorer(MLContext ml, ScaleKDTransformer student)
        {
            // The zip may name its columns otherwise; the input and output classes are mapped onto its names.
            var input = SchemaDefinition.Create(typeof(ImageInput));
            input[nameof(ImageInput.Image)].ColumnName = student.ImageColumnName;
            var output = SchemaDefinition.Create(typeof(ScoreOutput));
            output[nameof(ScoreOutput.Score)].ColumnName = student.ScoreColumnName;
            _engine = ml.Model.CreatePredictionEngine<ImageInput, ScoreOutput>(student, new PredictionEngineOptions
            {
                OwnsTransformer = false,
                InputSchemaDefinition = input,
                OutputSchemaDefinition = output,
            });
        }

        public float[] Score(byte[] encodedImage) => _engine.Predict(new ImageInput { Image = encodedImage }).Score;

        public void Dispose() => _engine.Dispose();
    }

    sealed class ImageInput
    {
        /// <summary>An encoded image file: a byte array is a Vector&lt;Byte&gt; column to ML.NET.</summary>
        public byte[] Image { get; set; } = [];
    }

    sealed class ScoreOutput
    {
        public float[] Score { get; set; } = [];
    }
}
