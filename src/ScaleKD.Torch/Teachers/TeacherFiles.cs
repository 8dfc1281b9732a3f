using System.Text.Json;
using ScaleKD.Torch.IO;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Weights;

namespace ScaleKD.Torch.Teachers;

/// <summary>What a teacher file needs besides its weights to be rebuilt: the model name and options.</summary>
/// <param name="Model">The registered configuration name.</param>
/// <param name="Options">The options it was built with.</param>
/// <param name="ClassNames">The classes its head predicts, by index.</param>
/// <param name="ValidationTop1">Its validation top-1 accuracy when it was saved, if measured.</param>
public sealed record TeacherDescription(string Model, ModelOptions Options, IReadOnlyList<string> ClassNames, double? ValidationTop1);

/// <summary>A teacher read back from its files.</summary>
/// <param name="Model">The rebuilt teacher, its weights loaded.</param>
/// <param name="Description">What its description says.</param>
public sealed record SavedTeacher(VisionModel Model, TeacherDescription Description);

/// <summary>
/// Teachers this library saved: <c>NAME.safetensors</c> (timm parameter names, loadable by timm too) beside
/// <c>NAME.json</c> (a <see cref="TeacherDescription"/>). Both are written atomically.
/// </summary>
public static class TeacherFiles
{
    /// <summary>Writes <paramref name="path"/> (.safetensors) and its .json description.</summary>
    public static void Save(VisionModel teacher, TeacherDescription description, string path)
    {
        SafetensorsWeights.Save(teacher, path);
        AtomicFile.WriteAllText(DescriptionPath(path), JsonSerializer.Serialize(description, new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Whether <paramref name="path"/> is a teacher this library saved (its description is beside it).</summary>
    public static bool Exists(string path) => File.Exists(DescriptionPath(path));

    /// <summary>Rebuilds a saved teacher: a whole one (<see cref="Save"/>), or a built-in pretrained network with the
    /// head <see cref="SaveHead"/> wrote (its backbone comes with the model).</summary>
    /// <exception cref="FileNotFoundException">The weights or the description is missing.</exception>
    /// <exception cref="InvalidDataException">The description is unreadable or the weights do not fit it.</exception>
    public static SavedTeacher Load(string path)
    {
        var description = ReadDescription(DescriptionPath(path));
        var teacher = ModelRegistry.Create(description.Model, description.Options);
        try
        {
            SafetensorsWeights.Load(ModelRegistry.IsBuiltInPretrained(description.Model) && IsHeadOnly(teacher, path) ? teacher.Classifier : teacher, path);
        }
        catch
        {
            teacher.Dispose();
            throw;
        }
        return new SavedTeacher(teacher, description);
    }

    static bool IsHeadOnly(VisionModel teacher, string path)
    {
        using var tensors = SafetensorsWeights.Read(path);
        return tensors.Keys.ToHashSet().SetEquals(teacher.Classifier.state_dict().Keys);
    }

    /// <summary>Writes only the teacher's classifier (<paramref name="path"/>, safetensors: a probed head is a few KB)
    /// and the description, for a built-in pretrained teacher whose backbone comes with the model.</summary>
    public static void SaveHead(VisionModel teacher, TeacherDescription description, string path)
    {
        SafetensorsWeights.Save(teacher.Classifier, path);
        AtomicFile.WriteAllText(DescriptionPath(path), JsonSerializer.Serialize(description, new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Whether a head saved by <see cref="SaveHead"/> is at <paramref name="path"/>.</summary>
    public static bool HeadExists(string path) => File.Exists(path) && File.Exists(DescriptionPath(path));

    /// <summary>Loads a head saved by <see cref="SaveHead"/> into <paramref name="teacher"/>'s classifier.</summary>
    /// <exception cref="InvalidDataException">It was saved for another model, size or class list, or does not fit.</exception>
    public static TeacherDescription LoadHead(VisionModel teacher, string path)
    {
        var description = ReadDescription(DescriptionPath(path));
        if (description.Model != teacher.GetName() || description.Options.NumClasses != teacher.Options.NumClasses)
            throw new InvalidDataException($"The head '{path}' was fitted for {description.Model} with {description.Options.NumClasses} classes, " +
                $"not {teacher.GetName()} with {teacher.Options.NumClasses}.");
        SafetensorsWeights.Load(teacher.Classifier, path);
        return description;
    }

    static TeacherDescription ReadDescription(string json)
    {
        if (!File.Exists(json))
            throw new FileNotFoundException($"Teacher description '{json}' is missing; it is written beside the weights by this tool.", json);
        try
        {
            return JsonSerializer.Deserialize<TeacherDescription>(File.ReadAllText(json))
                ?? throw new InvalidDataException($"'{json}' is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{json}' is not a teacher description: {e.Message}", e);
        }
    }

    static string DescriptionPath(string weightsPath) => Path.ChangeExtension(weightsPath, ".json");
}
