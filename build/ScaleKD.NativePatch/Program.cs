using ScaleKD.NativePatch;

// Run by ScaleKD.Torch.targets after Build and Publish; prints one line per file so build logs say what happened.
// --always patches even where the system libstdc++ provides the version (for output built here but run on Debian 12).
return args switch
{
    ["weaken-glibcxx", "--always", .. var directories] when directories.Length > 0 => WeakenGlibcxx(directories, always: true),
    ["weaken-glibcxx", .. var directories] when directories.Length > 0 => WeakenGlibcxx(directories, always: false),
    _ => Usage(),
};

static int WeakenGlibcxx(string[] outputDirectories, bool always)
{
    var system = always ? null : SystemLibStdCxx.Locate();
    foreach (var line in outputDirectories.SelectMany(d => TorchSharpNativePatch.Apply(d, system)))
        Console.WriteLine("ScaleKD.NativePatch: " + line);
    return 0;
}

static int Usage()
{
    Console.Error.WriteLine("usage: ScaleKD.NativePatch weaken-glibcxx [--always] OUTPUT_DIR...");
    return 2;
}
