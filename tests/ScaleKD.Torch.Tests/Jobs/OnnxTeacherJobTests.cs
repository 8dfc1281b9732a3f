using System.Diagnostics;
using System.Text.Json;
using ScaleKD.Tests.Shared;
using ScaleKD.Torch.Jobs;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Onnx;
using ScaleKD.Torch.Tests.Onnx;
using ScaleKD.Torch.Tests.Training;
using ScaleKD.Torch.Weights;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Jobs;

/// <summary>
/// A teacher imported from ONNX travels in a job as its ONNX file: the Python package rebuilds the graph from it with
/// the operators of this library's importer (python/scalekd/models/onnx_cnn.py), takes the weights from the job's
/// safetensors, and computes what the .NET model computes.
/// </summary>
[Trait("Category", "TorchJob")]
[Collection(SerialTrainingCollection.Name)] // creating the models reseeds torch's global generator
public sealed class OnnxTeacherJobTests(ITestOutputHelper output)
{
    /// <summary>
    /// Both sides compute in float64 on the same weights (ResNet18.onnx's, widened, and a random head), so they can
    /// differ only in the order of each sum. A sum of n products in float64 is off by at most n·u relative to the sum
    /// of the products' magnitudes (u = 1.1e-16); the largest here (a 3×3 convolution over 512 channels) has
    /// n = 4,608, so about 5e-13 per layer, 1e-11 over the 20 layers to stage 4. The bar, 1e-9 of each output's
    /// largest entry, leaves a factor of 100 for the network amplifying what an early layer rounded, and is still
    /// 60 times under a single float32 rounding (6e-8) anywhere on the way: a weight, the mean image or the input
    /// convention taken in float32, a pad on the wrong side or a stage taken at the wrong node fail it by far.
    /// </summary>
    const double Tolerance = 1e-9;

    [TorchJobFact]
    public void ThePackageRebuildsTheDefaultTeacherFromItsOnnxFileAndComputesTheSameStagesLogitsAndStageFour()
    {
        TorchBackend.Initialize();
        var folder = Directory.CreateTempSubdirectory("scalekd-onnx-teacher-").FullName;
        try
        {
            using var model = (OnnxCnn)ModelRegistry.Create(MlNetResNet18.Name, new ModelOptions(10, 64), seed: 5);
            model.to(float64);
            model.eval();
            var weights = Path.Combine(folder, "teacher.safetensors");
            SafetensorsWeights.Save(model, weights);
            var generator = new Generator(11);
            var images = randn([2, 3, 64, 64], float64, generator: generator);
            var s3 = model.StageShapes()[2];
            // TPP feeds stage 4 a projector's output, not the teacher's own stage-3 map: independent tokens.
            var tokens = randn([2, s3.Height * s3.Width, s3.Channels], float64, generator: generator);
            var inputs = Path.Combine(folder, "inputs.safetensors");
            TorchSharp.PyBridge.Safetensors.SaveStateDict(inputs, new Dictionary<string, Tensor> { ["images"] = images, ["tokens"] = tokens });

            var outputs = Path.Combine(folder, "outputs.safetensors");
            var onnx = new JobOnnxGraph(model.Graph.SourcePath!, model.InputConvention.Bgr, model.InputConvention.PixelScale,
                model.InputMeanShape?.ToArray(), model.InputStdShape?.ToArray());
            var request = new
            {
                model = MlNetResNet18.Name, classes = 10, image_size = 64, weights, inputs, outputs,
                onnx = new { file = onnx.File, bgr = onnx.Bgr, pixel_scale = onnx.PixelScale, input_mean_shape = onnx.InputMeanShape, input_std_shape = onnx.InputStdShape },
            };
            Assert.Equal(model.StageValues, RunPython(ModelSide, request));

            using var python = SafetensorsWeights.Read(outputs);
            using var noGrad = no_grad();
            var stages = model.ForwardStages(images);
            for (var k = 0; k < 4; k++)
                Compare($"stage {k + 1}", stages.Stages[k], python[$"stage{k}"]);
            Compare("pre-logits", stages.PreLogits, python["pre_logits"]);
            Compare("logits", stages.Logits, python["logits"]);
            Compare("forward_from_stage(3)", model.ForwardFromStage(tokens, 3), python["from_stage3"]);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The package's reader and operators on a small graph of every operator and attribute the importer runs
    /// (<see cref="TestGraph.EveryOperator"/>: raw_data initialisers where ResNet18.onnx has float_data, an Add of a
    /// constant, asymmetric and counted pads, Gemm's transB, alpha and beta, Flatten): the same state-dict keys, and
    /// every node's output equal to the importer's in float64, to the bar above.</summary>
    [TorchJobTheory]
    [InlineData(8)]
    [InlineData(13)]
    public void ThePackagesOperatorsComputeWhatTheImportersDoOnEveryOperator(int opset)
    {
        TorchBackend.Initialize();
        var folder = Directory.CreateTempSubdirectory("scalekd-onnx-ops-").FullName;
        try
        {
            var path = TestGraph.EveryOperator(opset).Graph.Save(folder);
            using var graph = OnnxGraph.Load(path);
            graph.to(float64);
            graph.eval();
            var images = randn([3, 3, 17, 17], float64, generator: new Generator(4));
            var inputs = Path.Combine(folder, "inputs.safetensors");
            TorchSharp.PyBridge.Safetensors.SaveStateDict(inputs, new Dictionary<string, Tensor> { ["images"] = images });
            var outputs = Path.Combine(folder, "outputs.safetensors");
            Assert.Equal(graph.state_dict().Keys.Order(StringComparer.Ordinal), RunPython(GraphSide, new { onnx = path, inputs, outputs }));

            using var python = SafetensorsWeights.Read(outputs);
            using var noGrad = no_grad();
            var values = graph.Operators.Select(op => op.Output).ToList();
            var dotnet = graph.Run(images, values);
            foreach (var op in graph.Operators)
                Compare($"{op.GetName()} ({op.OpType})", dotnet[op.Output], python[op.Output]);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>export-job with the default teacher: the job carries ResNet18.onnx's graph without its weights (every
    /// node and every initialiser's name, type and shape as they are; teacher.safetensors carries the values) and the
    /// input convention, and train.py (one process, float32, as a job runs) builds the teacher from them, loads its
    /// weights strictly and trains the student; without the file it names it. (The first-step parity test runs the
    /// same graph against the .NET teacher in float64.)</summary>
    [TorchJobFact]
    public void AJobWithTheDefaultTeacherCarriesItsOnnxGraphWithoutWeightsAndTrains()
    {
        using var job = new TinyJob("mixer_pico_patch4_32", 32, batch: 8, images: 16, teacher: MlNetResNet18.Name);
        var onnx = JobSettings.Read(job.Folder).Teacher!.Onnx!;
        Assert.Equal((JobExport.TeacherOnnxFile, true, 255.0), (onnx.File, onnx.Bgr, onnx.PixelScale));
        Assert.Equal([1L, 3, 64, 64], onnx.InputMeanShape);
        Assert.Null(onnx.InputStdShape);
        Assert.Equal(64, job.Settings.Teacher!.ImageSize);
        var source = Path.Combine(MlNetResNet18.FindModelsFolder(), "ResNet18Onnx", "ResNet18.onnx");
        var original = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(source));
        var carried = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(job.File(onnx.File)));
        Assert.Equal(original.Graph.Node, carried.Graph.Node);
        Assert.Equal(original.Graph.Input, carried.Graph.Input);
        Assert.Equal(original.Graph.Output, carried.Graph.Output);
        Assert.Equal(original.Graph.Initializer.Select(t => (t.Name, t.DataType, string.Join("x", t.Dims))),
            carried.Graph.Initializer.Select(t => (t.Name, t.DataType, string.Join("x", t.Dims))));
        Assert.All(carried.Graph.Initializer, t => Assert.True(t.RawData.IsEmpty && t.FloatData.Count == 0, $"{t.Name} kept its values"));
        var sizes = (original: new FileInfo(source).Length, carried: new FileInfo(job.File(onnx.File)).Length);
        output.WriteLine($"ResNet18.onnx {sizes.original:N0} bytes, the job's graph {sizes.carried:N0} bytes");
        Assert.True(sizes.carried < 1_000_000, $"the job's teacher graph takes {sizes.carried:N0} bytes");

        var watch = Stopwatch.StartNew();
        var run = TorchJob.Run(job.Folder, 1, "--max-steps", "2", "--output", job.File("run"));
        output.WriteLine($"train.py, 2 steps: {watch.Elapsed.TotalSeconds:F1} s\n{run.StandardOutput}");
        Assert.Contains("epoch 1/1", run.StandardOutput);
        using var student = SafetensorsWeights.Read(Path.Combine(job.File("run"), JobExport.StudentFile));
        using var initial = SafetensorsWeights.Read(job.File(JobExport.StudentInitFile));
        Assert.Contains(student.Keys, key => (student[key] - initial[key]).abs().max().item<float>() > 0);

        // A job folder that lost its graph says which file and which job.json key.
        File.Delete(job.File(onnx.File));
        var missing = Assert.Throws<InvalidOperationException>(() => TorchJob.Run(job.Folder, 1, "--max-steps", "1", "--output", job.File("again")));
        Assert.Contains($"{JobExport.TeacherOnnxFile} (the graph of teacher {MlNetResNet18.Name}, job.json teacher.onnx.file) is missing", missing.Message);
    }

    void Compare(string what, Tensor dotnet, Tensor python)
    {
        Assert.Equal(ScalarType.Float64, python.dtype);
        Assert.Equal(dotnet.shape, python.shape);
        var difference = (dotnet - python).abs().max().item<double>();
        var scale = dotnet.abs().max().item<double>();
        output.WriteLine($"{what}: max |difference| {difference:E2}, largest entry {scale:G4}, relative {difference / scale:E2}");
        Assert.True(difference <= Tolerance * scale, $"{what}: the two sides differ by {difference:E2}, {difference / scale:E2} of the largest entry {scale:G4}");
    }

    /// <summary>Runs <paramref name="script"/> on the shipped package with <paramref name="request"/> as JSON in
    /// sys.argv[2]; returns what it prints, a JSON list of strings.</summary>
    string[] RunPython(string script, object request)
    {
        var start = new ProcessStartInfo(TorchJob.Python!, ["-c", script, PythonRunner.ShippedDirectory, JsonSerializer.Serialize(request)])
            { RedirectStandardOutput = true, RedirectStandardError = true };
        var watch = Stopwatch.StartNew();
        var result = ChildProcess.Run(start, "the package's ONNX import", TimeSpan.FromMinutes(2));
        Assert.True(result.ExitCode == 0, result.StandardError);
        output.WriteLine($"python side: {watch.Elapsed.TotalSeconds:F1} s");
        return JsonSerializer.Deserialize<string[]>(result.StandardOutput.Trim())!;
    }

    // The job's own path: models.create with job.json's onnx section, then the strict load by name.
    const string ModelSide = """
        import json, sys
        sys.path.insert(0, sys.argv[1])
        import torch
        from scalekd import models
        from scalekd.job import load_weights
        from scalekd.safetensors_io import load, save
        r = json.loads(sys.argv[2])
        model = models.create(r["model"], r["classes"], r["image_size"], 3, r["onnx"]).double()
        load_weights(model, r["weights"], "teacher")
        model.eval()
        x = load(r["inputs"])
        with torch.no_grad():
            stages, pre_logits, logits = model.forward_stages(x["images"])
            out = {f"stage{k}": s for k, s in enumerate(stages)}
            out.update(pre_logits=pre_logits, logits=logits, from_stage3=model.forward_from_stage(x["tokens"], 3))
        save(r["outputs"], out)
        print(json.dumps(model.stage_values))
        """;

    // The graph alone, its weights from the file: every node's output, named by the value it writes.
    const string GraphSide = """
        import json, sys
        sys.path.insert(0, sys.argv[1])
        import torch
        from scalekd import onnx_proto
        from scalekd.models.onnx_cnn import OnnxGraph
        from scalekd.safetensors_io import load, save
        r = json.loads(sys.argv[2])
        graph = OnnxGraph(onnx_proto.load(r["onnx"])).double().eval()
        values = {graph.input_name: load(r["inputs"])["images"]}
        with torch.no_grad():
            graph.evaluate(values, 0, len(graph.operators))
        save(r["outputs"], {op.output: values[op.output] for op in graph.operators})
        print(json.dumps(sorted(graph.state_dict())))
        """;
}
