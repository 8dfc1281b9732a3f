namespace ScaleKD.Torch.Tests.Onnx;

/// <summary>The export tests build models from torch's global generator and keep both cores busy with ONNX Runtime's
/// own thread pool; run alone, they neither reseed nor slow the tests of other classes (whose scale-relative
/// gradient checks failed now and then while these ran beside them).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialOnnxExportCollection
{
    public const string Name = "Serial ONNX export";
}
