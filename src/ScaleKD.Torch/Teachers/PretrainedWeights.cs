using ScaleKD.Torch.Models;
using ScaleKD.Torch.Weights;

namespace ScaleKD.Torch.Teachers;

/// <summary>The outcome of loading pretrained weights into a teacher.</summary>
/// <param name="ClassifierLoaded">False when the checkpoint's head did not fit the dataset's classes and was left
/// untrained: fit it with <see cref="LinearProbe"/> before distilling (<see cref="TeacherPreparation"/> does).</param>
/// <param name="SkippedKeys">The classifier keys that were not loaded.</param>
public sealed record PretrainedImport(bool ClassifierLoaded, IReadOnlyList<string> SkippedKeys);

/// <summary>Pretrained timm or Hugging Face safetensors checkpoints (timm parameter names) as teacher weights.</summary>
public static class PretrainedWeights
{
    /// <summary>Checks a checkpoint against a model without loading it: what <c>import-teacher</c> reports.</summary>
    public static StateDictMismatch Check(VisionModel model, string path)
    {
        using var tensors = SafetensorsWeights.Read(path);
        return StateDicts.Compare(model, tensors);
    }

    /// <summary>Loads every backbone key strictly. The classifier is loaded only when its shapes fit (same number of
    /// classes); otherwise it keeps its fresh initialisation and the result says so.</summary>
    /// <exception cref="InvalidDataException">A backbone key is missing, unexpected or mis-shaped; the message names it.</exception>
    public static PretrainedImport Import(VisionModel teacher, string path)
    {
        var classifierKeys = ClassifierKeys(teacher);
        using var tensors = SafetensorsWeights.Read(path);
        var mismatch = StateDicts.Compare(teacher, tensors);
        var headFits = !mismatch.MisShaped.Any(m => classifierKeys.Contains(m.Key));
        StateDicts.LoadStrict(teacher, tensors, $"'{path}'", headFits ? null : classifierKeys);
        return new PretrainedImport(headFits, headFits ? [] : classifierKeys.Order(StringComparer.Ordinal).ToList());
    }

    /// <summary>The state-dict keys of the model's classifier (e.g. <c>head.fc.weight</c>, <c>head.fc.bias</c>).</summary>
    public static IReadOnlySet<string> ClassifierKeys(VisionModel model)
    {
        var prefix = model.named_modules().Single(m => ReferenceEquals(m.module, model.Classifier)).name;
        return model.Classifier.state_dict().Keys.Select(k => $"{prefix}.{k}").ToHashSet(StringComparer.Ordinal);
    }
}
