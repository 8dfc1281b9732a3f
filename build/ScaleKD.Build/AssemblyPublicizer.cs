using Mono.Cecil;

namespace ScaleKD.Build;

/// <summary>
/// Writes a compile-only copy of an assembly in which every type, method and field is public.
/// </summary>
/// <remarks>
/// Microsoft.ML 5.0.1 keeps the zip-persistence API (ModelSaveContext members, ModelLoadContext, LoadableClass,
/// VersionInfo) internal. ScaleKD.MLNet compiles against publicized copies and declares
/// <c>IgnoresAccessChecksTo</c>, so at run time the real, unmodified assemblies are bound.
/// </remarks>
public static class AssemblyPublicizer
{
    /// <param name="searchDirectories">Where the input's own references live; writing constants resolves their types.</param>
    public static void Publicize(string inputPath, string outputPath, IEnumerable<string> searchDirectories)
    {
        using var resolver = new DefaultAssemblyResolver();
        foreach (var directory in searchDirectories.Append(Path.GetDirectoryName(Path.GetFullPath(inputPath))!).Distinct())
            resolver.AddSearchDirectory(directory);
        using (var assembly = AssemblyDefinition.ReadAssembly(inputPath, new ReaderParameters { AssemblyResolver = resolver }))
        {
            foreach (var type in assembly.MainModule.GetTypes())
            {
                if (type.IsNested)
                    type.IsNestedPublic = true;
                else
                    type.IsPublic = true;
                foreach (var method in type.Methods)
                    method.IsPublic = true;
                // A field-like event's backing field shares the event's name; publishing both would make the
                // name ambiguous to the compiler.
                var eventNames = type.Events.Select(e => e.Name).ToHashSet();
                foreach (var field in type.Fields.Where(f => !eventNames.Contains(f.Name)))
                    field.IsPublic = true;
            }
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outputPath))!);
            var temp = outputPath + ".tmp-" + Environment.ProcessId;
            assembly.Write(temp);
            File.Move(temp, outputPath, overwrite: true);
        }
    }
}
