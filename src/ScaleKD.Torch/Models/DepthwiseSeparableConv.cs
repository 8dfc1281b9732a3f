using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ScaleKD.Torch.Models;

/// <summary>
/// MobileNetV1's block, timm's <c>dsa</c> <c>DepthwiseSeparableConv</c>: 3×3 depthwise conv (stride) → BN → ReLU6 →
/// 1×1 pointwise conv → BN → ReLU6. 'dsa' means no skip connection, so timm never applies drop path here.
/// </summary>
internal sealed class DepthwiseSeparableConv : nn.Module<Tensor, Tensor>
{
    // Field names are timm's: they become the state-dict keys (blocks.i.j.conv_dw.weight, …).
    readonly Conv2d conv_dw;
    readonly BatchNorm2d bn1;
    readonly Conv2d conv_pw;
    readonly BatchNorm2d bn2;

    public DepthwiseSeparableConv(int inChannels, int outChannels, int stride) : base(nameof(DepthwiseSeparableConv))
    {
        // timm's default padding for a 3×3 kernel is 1 at either stride ((stride − 1 + 2) / 2).
        conv_dw = nn.Conv2d(inChannels, inChannels, 3, stride: stride, padding: 1, groups: inChannels, bias: false);
        bn1 = nn.BatchNorm2d(inChannels);
        conv_pw = nn.Conv2d(inChannels, outChannels, 1, bias: false);
        bn2 = nn.BatchNorm2d(outChannels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        x = F.relu6(bn1.forward(conv_dw.forward(x)));
        return F.relu6(bn2.forward(conv_pw.forward(x)));
    }
}
