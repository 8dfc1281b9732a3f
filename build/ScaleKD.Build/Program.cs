using ScaleKD.Build;

// Invoked from build/PublicizeMicrosoftML.targets; prints one line per file so build logs say what happened.
return args switch
{
    ["publicize", var outputDirectory, .. var rest] when rest.Length > 0 && rest[0] != "--search" =>
        Publicize(outputDirectory, rest.TakeWhile(a => a != "--search").ToArray(), rest.SkipWhile(a => a != "--search").Skip(1).ToArray()),
    _ => Usage(),
};

static int Publicize(string outputDirectory, string[] inputs, string[] searchDirectories)
{
    foreach (var input in inputs)
    {
        var output = Path.Combine(outputDirectory, Path.GetFileName(input));
        AssemblyPublicizer.Publicize(input, output, searchDirectories);
        Console.WriteLine($"ScaleKD.Build: publicized {Path.GetFileName(input)} -> {output}");
    }
    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("usage: ScaleKD.Build publicize OUTPUT_DIR ASSEMBLY... [--search REFERENCE_DIR...]");
    return 2;
}
