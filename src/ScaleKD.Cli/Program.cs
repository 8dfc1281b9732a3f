using ScaleKD.Torch.Native;
using TorchSharp;

// Foundation stage: the distill/evaluate/predict commands arrive with the trainer. Today the tool proves that
// libtorch loads and reports the backend, with the same options the trainer will take.
var useCuda = args.Contains("--cuda");
var fallback = args.Contains("--fallback-to-cpu");
try
{
    var backend = TorchBackend.Initialize(new TorchBackendOptions { UseCuda = useCuda, FallbackToCpu = fallback });
    Console.WriteLine($"ScaleKD.MLNet: TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch {torch.__version__}");
    Console.WriteLine($"Backend: {backend.Description}");
    using var probe = torch.randn(64, 64, device: backend.Device);
    Console.WriteLine($"Check: a 64x64 matmul on {backend.Device} gives a finite result: {torch.isfinite(probe.matmul(probe)).all().item<bool>()}");
    Console.WriteLine("Distillation commands (distill, evaluate, predict) are not built yet; see the open issues.");
    return 0;
}
catch (Exception e) when (e is InvalidOperationException or IOException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
