using TorchSharp.Modules;

namespace ScaleKD.Torch.Onnx.Export;

/// <summary>The GELU MLP of ViT and Swin blocks (<c>TokenMlp</c>): MatMul (fc1) → exact GELU → MatMul (fc2).</summary>
static class TokenMlpExport
{
    public static string Write(OnnxLayers layers, ModuleTree model, string x, string path)
    {
        var y = layers.Linear(x, model.Get<Linear>(path + ".fc1"), path + ".fc1");
        y = layers.Gelu(y, path + ".act");
        return layers.Linear(y, model.Get<Linear>(path + ".fc2"), path + ".fc2");
    }
}
