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

    /// <summary>Rebuilds a saved teacher.</summary>
    /// <exception cref="FileNotFoundException">The weights or the description is missing.</exception>
    /// <exception cref="InvalidDataException">The description is unreadable or the weights do not fit it.</exception>
    public static SavedTeacher Load(string path)
    {
        var json = DescriptionPath(path);
        if (!File.Exists(json))
            throw new FileNotFoundException($"Teacher description '{json}' is missing; it is written beside the weights by this tool.", json);
        TeacherDescription description;
        try
        {
            description = JsonSerializer.Deserialize<TeacherDescription>(File.ReadAllText(json))
                ?? throw new InvalidDataException($"'{json}' is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{json}' is not a teacher description: {e.Message}", e);
        }
        var teacher = ModelRegistry.Create(description.Model, description.Options);
        SafetensorsWeights.Load(teacher, path);
        return new SavedTeacher(teacher, description);
    }

    static string DescriptionPath(string weightsPath) => Path.ChangeExtension(weightsPath, ".json");
}
