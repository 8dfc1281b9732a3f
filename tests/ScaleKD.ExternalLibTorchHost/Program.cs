using ScaleKD.Torch.Native;
using TorchSharp;

// Prints what was loaded, as key=value lines the tests parse; a refusal is one line on stderr and exit code 1.
try
{
    var info = TorchBackend.Initialize(new TorchBackendOptions { UseCuda = args.Contains("--cuda"), FallbackToCpu = args.Contains("--fallback") });
    Console.WriteLine($"source={info.LibTorchSource}");
    Console.WriteLine($"device={info.Device}");
    Console.WriteLine($"fellback={info.FellBackToCpu}");
    Console.WriteLine($"sum={torch.arange(10).sum().item<long>()}");
    foreach (var path in File.ReadLines("/proc/self/maps").Where(l => l.EndsWith("/libtorch_cpu.so")).Select(l => l[l.IndexOf('/')..]).Distinct())
        Console.WriteLine($"mapped={path}");
    return 0;
}
catch (Exception e) when (e is InvalidOperationException or IOException)
{
    Console.Error.WriteLine(e.Message);
    return 1;
}
