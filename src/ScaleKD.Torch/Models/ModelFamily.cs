namespace ScaleKD.Torch.Models;

/// <summary>Architecture family; the distillation loss picks projector settings from it (paper Sec. 3.1, official configs).</summary>
public enum ModelFamily
{
    /// <summary>ResNet (timm <c>resnet.py</c>).</summary>
    ResNet,
    /// <summary>MobileNetV1 (timm <c>mobilenetv1_100</c>).</summary>
    MobileNetV1,
    /// <summary>ConvNeXt (timm <c>convnext.py</c>): LayerNorm-based stages.</summary>
    ConvNeXt,
    /// <summary>MLP-Mixer (timm <c>mlp_mixer.py</c>).</summary>
    Mixer,
    /// <summary>ViT/DeiT (timm <c>vision_transformer.py</c>).</summary>
    VisionTransformer,
    /// <summary>Swin Transformer (timm <c>swin_transformer.py</c>): LayerNorm-based stages.</summary>
    Swin,
}
