"""timm's own modules for the models this package defines, used when timm is importable (GPU clusters have it): its
blocks, attention (fused scaled-dot-product attention on PyTorch 2) and norms, with this package's stage interface.

The package's forward_stages and forward_from_stage read only submodules that timm names and shapes the same way
(stems, stages or blocks, final norm, head), so they are bound to timm's module as they are: one definition of what a
stage is, whichever module computes it. The parameter names are timm's on both sides, so a job's safetensors load
into either strictly. Each entry builds the configuration ScaleKD.Torch registers under that name: the tiny ones
through timm's model classes, the full-size ones by their timm name. Every one without stochastic depth
(NO_DROP_PATH), as ScaleKD.Torch's models train (ModelOptions.DropPathRate 0), where timm's Swin defaults to 0.1."""
import types

NO_DROP_PATH = {"drop_path_rate": 0.0}

from .cnn import ConvNeXt, MobileNetV1, ResNet
from .tokens import Mixer, Swin, VisionTransformer


def _by_name(name, sized):
    """A full-size model by its timm name; ViT, Swin and Mixer take the job's image size (their grids depend on it)."""
    def build(timm, classes, size, in_chans):
        extra = {"img_size": size} if sized else {}
        return timm.create_model(name, pretrained=False, num_classes=classes, in_chans=in_chans, **extra,
                                 **NO_DROP_PATH)
    return build


def _resnet(block, channels):
    def build(timm, classes, size, in_chans):
        r = timm.models.resnet
        return r.ResNet(getattr(r, block), (1, 1, 1, 1), channels=channels, num_classes=classes, in_chans=in_chans,
                           **NO_DROP_PATH)
    return build


# name -> (the package class whose stage methods apply, how timm builds it)
BUILDS = {
    "resnet_pico": (ResNet, _resnet("BasicBlock", (8, 16, 24, 32))),
    "resnet_pico_bottleneck": (ResNet, _resnet("Bottleneck", (4, 8, 12, 16))),
    "resnet18": (ResNet, _by_name("resnet18", False)),
    "resnet50": (ResNet, _by_name("resnet50", False)),
    "mobilenetv1_pico": (MobileNetV1, lambda timm, c, s, i: timm.models.efficientnet._gen_mobilenet_v1(
        "mobilenetv1_100", 0.125, depth_multiplier=0.5, num_classes=c, in_chans=i, **NO_DROP_PATH)),
    "mobilenetv1_100": (MobileNetV1, _by_name("mobilenetv1_100", False)),
    "convnext_test_pico": (ConvNeXt, lambda timm, c, s, i: timm.models.convnext.ConvNeXt(
        depths=(1, 1, 1, 1), dims=(8, 16, 24, 32), num_classes=c, in_chans=i, **NO_DROP_PATH)),
    "convnext_tiny": (ConvNeXt, _by_name("convnext_tiny", False)),
    "vit_pico_patch4_32": (VisionTransformer, lambda timm, c, s, i: timm.models.vision_transformer.VisionTransformer(
        img_size=s, patch_size=4, embed_dim=32, depth=4, num_heads=2, num_classes=c, in_chans=i, **NO_DROP_PATH)),
    "vit_tiny_patch16_224": (VisionTransformer, _by_name("vit_tiny_patch16_224", True)),
    "vit_small_patch16_224": (VisionTransformer, _by_name("vit_small_patch16_224", True)),
    "vit_base_patch16_224": (VisionTransformer, _by_name("vit_base_patch16_224", True)),
    "vit_large_patch16_224": (VisionTransformer, _by_name("vit_large_patch16_224", True)),
    "swin_pico_patch2_window4_32": (Swin, lambda timm, c, s, i: timm.models.swin_transformer.SwinTransformer(
        img_size=s, patch_size=2, window_size=4, embed_dim=8, depths=(2, 2, 1, 1), num_heads=(2, 2, 4, 4),
        num_classes=c, in_chans=i, **NO_DROP_PATH)),
    "swin_tiny_patch4_window7_224": (Swin, _by_name("swin_tiny_patch4_window7_224", True)),
    "swin_small_patch4_window7_224": (Swin, _by_name("swin_small_patch4_window7_224", True)),
    "swin_base_patch4_window7_224": (Swin, _by_name("swin_base_patch4_window7_224", True)),
    "swin_large_patch4_window7_224": (Swin, _by_name("swin_large_patch4_window7_224", True)),
    "mixer_pico_patch4_32": (Mixer, lambda timm, c, s, i: timm.models.mlp_mixer.MlpMixer(
        img_size=s, patch_size=4, embed_dim=32, num_blocks=4, num_classes=c, in_chans=i, **NO_DROP_PATH)),
    "mixer_s16_224": (Mixer, _by_name("mixer_s16_224", True)),
    "mixer_b16_224": (Mixer, _by_name("mixer_b16_224", True)),
}


def import_timm():
    """(timm, None), or (None, why not): a missing package, or one that fails to import against this PyTorch."""
    try:
        import timm
        return timm, None
    except Exception as e:  # an old torchvision or an incompatible PyTorch raises more than ImportError
        return None, f"{type(e).__name__}: {e}"


def create(timm, name, num_classes, image_size, in_chans=3):
    """timm's module for `name` with the package's forward_stages (and forward_from_stage where the family has one)."""
    family, build = BUILDS[name]
    model = build(timm, num_classes, image_size, in_chans)
    for method in ("forward_stages", "forward_from_stage"):
        if hasattr(family, method):
            setattr(model, method, types.MethodType(getattr(family, method), model))
    return model
