using System.Globalization;
using ScaleKD.Bench;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Native;

// Benchmarks print one table; see bench/README.md for the commands and how to read them.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var arguments = Arguments.Parse(args);
var backend = TorchBackend.Initialize(new TorchBackendOptions { UseCuda = arguments.Flag("cuda") });
if (arguments.Int("threads", 0) is > 0 and var threads)
    TorchSharp.torch.set_num_threads(threads);
switch (arguments.Command)
{
    case "step":
    {
        var teacher = arguments.Get("teacher", "swin_pico_patch2_window4_32");
        var student = arguments.Get("student", "resnet_pico");
        int size = arguments.Int("image-size", 64), batch = arguments.Int("batch", 32);
        int warmup = arguments.Int("warmup", 3), iterations = arguments.Int("iterations", 10);
        var methods = arguments.Get("methods", "ScaleKD,None").Split(',').Select(Enum.Parse<DistillationMethod>);
        var bf16 = arguments.Flag("teacher-bf16");
        var channelsLast = arguments.Flag("channels-last");
        var studentBf16 = arguments.Flag("student-bf16");
        var fused = !arguments.Flag("unfused-tpp");
        Console.WriteLine($"# distillation step, {teacher} -> {student}, {size} px, batch {batch}, teacher {(bf16 ? "bfloat16" : "float32")}, " +
                          $"student {(studentBf16 ? "bfloat16 (float32 masters)" : "float32")}, TPP {(fused ? "fused" : "one pass per view")}, " +
                          $"{(channelsLast ? "channels-last" : "contiguous")} images, {backend.Description}, torch threads {TorchSharp.torch.get_num_threads()}");
        Console.WriteLine("| method | median ms/step | images/s |");
        Console.WriteLine("|---|---|---|");
        foreach (var method in methods)
        {
            var result = StepBenchmark.Run(teacher, student, method, size, batch, warmup, iterations, backend, bf16, channelsLast, studentBf16, fused);
            Console.WriteLine($"| {result.Method} | {result.MedianMilliseconds:F1} | {result.ImagesPerSecond:F1} |");
        }
        return 0;
    }
    case "inference":
    {
        var student = arguments.Get("student", "resnet50");
        InferenceBenchmark.Run(student, arguments.Int("image-size", 224), arguments.Int("rows", 512), arguments.Int("batch", 32),
            arguments.Int("engine-calls", 10_000), arguments.Int("rounds", 3), backend);
        return 0;
    }
    case "onnx":
    {
        var students = arguments.Get("students", "resnet50,vit_small_patch16_224").Split(',');
        OnnxBenchmark.Print(students, arguments.Int("image-size", 224), arguments.Int("classes", 10), arguments.Int("batch", 32),
            arguments.Int("rounds", 5), arguments.Int("single-calls", 10), arguments.Int("batch-calls", 2), backend);
        return 0;
    }
    default:
        Console.Error.WriteLine("usage: ScaleKD.Bench step [--teacher NAME] [--student NAME] [--image-size N] [--batch N] [--methods ScaleKD,None] [--teacher-bf16] [--student-bf16] [--unfused-tpp] [--channels-last] [--threads N] [--cuda]\n" +
                                "       ScaleKD.Bench inference [--student NAME] [--image-size N] [--rows N] [--batch N] [--engine-calls N] [--rounds N] [--threads N] [--cuda]\n" +
                                "       ScaleKD.Bench onnx [--students A,B] [--image-size N] [--classes N] [--batch N] [--rounds N] [--single-calls N] [--batch-calls N] [--threads N]");
        return 2;
}
