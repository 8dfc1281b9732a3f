using ScaleKD.Torch.Models;
using TorchSharp.Modules;
using static ScaleKD.Torch.Onnx.Export.OnnxGraphWriter;

namespace ScaleKD.Torch.Onnx.Export;

/// <summary>
/// ResNet (<see cref="ResNet.ForwardStages"/>) as ONNX: the stem Conv (BN folded) → Relu → MaxPool 3×3/2 pad 1, the
/// residual blocks of <c>layer1</c>–<c>layer4</c> (basic or bottleneck, read from the modules present), then
/// GlobalAveragePool → Flatten → Gemm (<c>fc</c>).
/// </summary>
static class ResNetExport
{
    public static string Logits(OnnxLayers layers, ModuleTree model, string images)
    {
        var x = layers.Relu(layers.Conv(images, model.Get<Conv2d>("conv1"), model.Get<BatchNorm2d>("bn1"), "conv1"), "conv1.relu");
        // The max pool's geometry is fixed in ResNet.ForwardStages, not held by a module.
        x = layers.Graph.Node("MaxPool", "maxpool", [x], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1));
        for (var stage = 1; stage <= 4; stage++)
        {
            var blocks = model.Count($"layer{stage}");
            for (var i = 0; i < blocks; i++)
                x = Block(layers, model, x, $"layer{stage}.{i}");
        }
        return layers.Linear(layers.GlobalAveragePool(x, "global_pool"), model.Get<Linear>("fc"), "fc", matrixInput: true);
    }

    /// <summary>BasicBlock (conv1, conv2) or Bottleneck (conv1, conv2, conv3): each conv with its BN folded and a Relu
    /// between; the shortcut is the input or <c>downsample</c> (1×1 conv + BN); Add, then Relu. Drop path is the
    /// identity in eval mode.</summary>
    static string Block(OnnxLayers layers, ModuleTree model, string x, string path)
    {
        var convs = model.Has(path + ".conv3") ? 3 : 2;
        var y = x;
        for (var c = 1; c <= convs; c++)
        {
            y = layers.Conv(y, model.Get<Conv2d>($"{path}.conv{c}"), model.Get<BatchNorm2d>($"{path}.bn{c}"), $"{path}.conv{c}");
            if (c < convs)
                y = layers.Relu(y, $"{path}.conv{c}.relu");
        }
        var shortcut = model.Has(path + ".downsample")
            ? layers.Conv(x, model.Get<Conv2d>(path + ".downsample.0"), model.Get<BatchNorm2d>(path + ".downsample.1"), path + ".downsample")
            : x;
        return layers.Relu(layers.Add(y, shortcut, path + ".add"), path);
    }
}
