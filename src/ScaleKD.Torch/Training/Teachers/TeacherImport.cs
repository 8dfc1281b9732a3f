using ScaleKD.Torch.Models;
using ScaleKD.Torch.Weights;
using TorchSharp;

namespace ScaleKD.Torch.Training.Teachers;

/// <summary>The outcome of importing pretrained weights into a teacher.</summary>
/// <param name="ClassifierLoaded">False when the checkpoint's head did not fit the dataset's classes and was left
/// untrained: fit it with <see cref="LinearProbe"/> before distilling.</param>
/// <param name="SkippedKeys">The classifier keys that were not loaded.</param>
public sealed record TeacherImport(bool ClassifierLoaded, IReadOnlyList<string> SkippedKeys);

/// <summary>Loads a timm or Hugging Face safetensors checkpoint (timm parameter names) into a teacher.</summary>
public static class TeacherWeights
{
    /// <summary>Checks a checkpoint against a model without loading it: what <c>import-teacher</c> reports.</summary>
    public static StateDictMismatch Check(VisionModel model, string path)
    {
        var tensors = SafetensorsWeights.Read(path);
        try
        {
            return StateDicts.Compare(model, tensors);
        }
        finally
        {
            foreach (var tensor in tensors.Values)
                tensor.Dispose();
        }
    }

    /// <summary>Loads every backbone key strictly. The classifier is loaded only when its shapes fit (same number of
    /// classes); otherwise it keeps its fresh initialisation and the result says so.</summary>
    /// <exception cref="InvalidDataException">A backbone key is missing, unexpected or mis-shaped; the message names it.</exception>
    public static TeacherImport Import(VisionModel teacher, string path)
    {
        var classifierKeys = ClassifierKeys(teacher);
        var tensors = SafetensorsWeights.Read(path);
        try
        {
            var mismatch = StateDicts.Compare(teacher, tensors);
            var headFits = !mismatch.MisShaped.Any(m => classifierKeys.Contains(m.Key));
            var skip = headFits ? null : classifierKeys;
            StateDicts.LoadStrict(teacher, tensors, $"'{path}'", skip);
            return new TeacherImport(headFits, headFits ? [] : classifierKeys.Order(StringComparer.Ordinal).ToList());
        }
        finally
        {
            foreach (var tensor in tensors.Values)
                tensor.Dispose();
        }
    }

    /// <summary>The state-dict keys of the model's classifier (e.g. <c>head.fc.weight</c>, <c>head.fc.bias</c>).</summary>
    public static IReadOnlySet<string> ClassifierKeys(VisionModel model)
    {
        var prefix = model.named_modules().Single(m => ReferenceEquals(m.module, model.Classifier)).name;
        return model.Classifier.state_dict().Keys.Select(k => $"{prefix}.{k}").ToHashSet(StringComparer.Ordinal);
    }
}
