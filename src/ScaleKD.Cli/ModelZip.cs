using Microsoft.ML;
using Microsoft.ML.Data;
using ScaleKD.MLNet;
using ScaleKD.Torch.IO;

namespace ScaleKD.Cli;

/// <summary>The tool's model zip: the student's transformer and the mapping of its predicted key back to the class
/// name, saved with the schema of the keyed training rows. Both <c>distill</c> and <c>import-student</c> write it
/// here, so a student trained by a PyTorch job is the same zip as one trained in .NET.</summary>
public static class ModelZip
{
    /// <summary>The student with its predicted label mapped back to the class name.</summary>
    /// <param name="keyedRows">Rows as training saw them (the label mapped to its key), for the schema.</param>
    public static TransformerChain<ITransformer> Chain(MLContext ml, ScaleKDTransformer student, IDataView keyedRows) =>
        new(student, ml.Transforms.Conversion.MapKeyToValue("PredictedLabel").Fit(student.Transform(keyedRows)));

    /// <summary>Writes the zip atomically.</summary>
    public static void Save(MLContext ml, ITransformer model, IDataView keyedRows, string path) =>
        AtomicFile.Write(path, stream => ml.Model.Save(model, keyedRows.Schema, stream));

    /// <summary>No rows, keyed as training keys them: the schema of a model zip when there is no training data at hand.</summary>
    public static IDataView EmptyKeyedRows(MLContext ml, IReadOnlyList<string> classNames)
    {
        var empty = ml.Data.LoadFromEnumerable(Array.Empty<ImageBytesRow>());
        return DataSets.LabelToKey(ml, classNames).Fit(empty).Transform(empty);
    }
}
