using TorchSharp.Modules;

namespace ScaleKD.Torch.Onnx.Export;

/// <summary>
/// MobileNetV1 (<see cref="Models.MobileNetV1.ForwardStages"/>) as ONNX: the stem Conv (BN folded) → Clip(0, 6), each
/// depthwise-separable block as a grouped 3×3 Conv → Clip → 1×1 Conv → Clip (BNs folded), then GlobalAveragePool →
/// Flatten → Gemm (<c>classifier</c>).
/// </summary>
static class MobileNetV1Export
{
    public static string Logits(OnnxLayers layers, ModuleTree model, string images)
    {
        var x = layers.Relu6(layers.Conv(images, model.Get<Conv2d>("conv_stem"), model.Get<BatchNorm2d>("bn1"), "conv_stem"), "conv_stem.relu6");
        var groups = model.Count("blocks");
        for (var g = 0; g < groups; g++)
        {
            var blocks = model.Count($"blocks.{g}");
            for (var i = 0; i < blocks; i++)
            {
                var path = $"blocks.{g}.{i}";
                x = layers.Relu6(layers.Conv(x, model.Get<Conv2d>(path + ".conv_dw"), model.Get<BatchNorm2d>(path + ".bn1"), path + ".conv_dw"), path + ".conv_dw.relu6");
                x = layers.Relu6(layers.Conv(x, model.Get<Conv2d>(path + ".conv_pw"), model.Get<BatchNorm2d>(path + ".bn2"), path + ".conv_pw"), path);
            }
        }
        return layers.Linear(layers.GlobalAveragePool(x, "global_pool"), model.Get<Linear>("classifier"), "classifier", matrixInput: true);
    }
}
