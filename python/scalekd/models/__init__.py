"""The models by the names ScaleKD.Torch's ModelRegistry gives them (timm's names for the full-size ones), built from
this package's definitions, which carry timm's module and parameter names: weights move between the two sides, and
timm, by name. Each entry is the configuration ScaleKD.Torch registers under that name. Where timm is importable, the
same names build timm's own modules instead (timm_models.py), which compute the same.

A model ScaleKD.Torch imports from ONNX has no definition here: its graph travels as its ONNX file, rebuilt by
onnx_cnn.py with the operators ScaleKD.Torch's importer runs (ONNX_NAMES)."""
from . import onnx_cnn, timm_models
from .cnn import BasicBlock, Bottleneck, ConvNeXt, MobileNetV1, ResNet
from .tokens import Mixer, Swin, VisionTransformer

_FACTORIES = {
    "resnet_pico": lambda c, s, i: ResNet(BasicBlock, (1, 1, 1, 1), (8, 16, 24, 32), c, i),
    "resnet_pico_bottleneck": lambda c, s, i: ResNet(Bottleneck, (1, 1, 1, 1), (4, 8, 12, 16), c, i),
    "resnet18": lambda c, s, i: ResNet(BasicBlock, (2, 2, 2, 2), (64, 128, 256, 512), c, i),
    "resnet50": lambda c, s, i: ResNet(Bottleneck, (3, 4, 6, 3), (64, 128, 256, 512), c, i),
    "mobilenetv1_pico": lambda c, s, i: MobileNetV1(0.125, 0.5, c, i),
    "mobilenetv1_100": lambda c, s, i: MobileNetV1(1.0, 1.0, c, i),
    "convnext_test_pico": lambda c, s, i: ConvNeXt((1, 1, 1, 1), (8, 16, 24, 32), c, i),
    "convnext_tiny": lambda c, s, i: ConvNeXt((3, 3, 9, 3), (96, 192, 384, 768), c, i),
    "vit_pico_patch4_32": lambda c, s, i: VisionTransformer(s, 4, 32, 4, 2, c, i),
    "vit_tiny_patch16_224": lambda c, s, i: VisionTransformer(s, 16, 192, 12, 3, c, i),
    "vit_small_patch16_224": lambda c, s, i: VisionTransformer(s, 16, 384, 12, 6, c, i),
    "vit_base_patch16_224": lambda c, s, i: VisionTransformer(s, 16, 768, 12, 12, c, i),
    "vit_large_patch16_224": lambda c, s, i: VisionTransformer(s, 16, 1024, 24, 16, c, i),
    "swin_pico_patch2_window4_32": lambda c, s, i: Swin(s, 2, 4, 8, [2, 2, 1, 1], [2, 2, 4, 4], c, i),
    "swin_tiny_patch4_window7_224": lambda c, s, i: Swin(s, 4, 7, 96, [2, 2, 6, 2], [3, 6, 12, 24], c, i),
    "swin_small_patch4_window7_224": lambda c, s, i: Swin(s, 4, 7, 96, [2, 2, 18, 2], [3, 6, 12, 24], c, i),
    "swin_base_patch4_window7_224": lambda c, s, i: Swin(s, 4, 7, 128, [2, 2, 18, 2], [4, 8, 16, 32], c, i),
    "swin_large_patch4_window7_224": lambda c, s, i: Swin(s, 4, 7, 192, [2, 2, 18, 2], [6, 12, 24, 48], c, i),
    "mixer_pico_patch4_32": lambda c, s, i: Mixer(s, 4, 32, 4, c, i),
    "mixer_s16_224": lambda c, s, i: Mixer(s, 16, 512, 8, c, i),
    "mixer_b16_224": lambda c, s, i: Mixer(s, 16, 768, 12, c, i),
}

NAMES = sorted(_FACTORIES)

# ScaleKD.Torch's models imported from ONNX, which this package builds from their ONNX file (PythonRunner.OnnxModels).
ONNX_NAMES = ["resnet18_imagenet_mlnet"]


def create(name, num_classes, image_size, in_chans=3, onnx=None, timm=None):
    """The named model; its weights are whatever the caller loads (the job ships every model's weights). `onnx`: for
    a model imported from ONNX, its graph and input convention as job.json's `onnx` gives them (`file` a path here).
    `timm`: the imported timm package, to build timm's module rather than this package's definition."""
    if onnx is not None:
        return onnx_cnn.load(onnx["file"], num_classes, image_size, in_chans, onnx["bgr"], onnx["pixel_scale"],
                             onnx["input_mean_shape"], onnx["input_std_shape"], name)
    if name in ONNX_NAMES:
        raise ValueError(f"'{name}' is imported from ONNX: it is built from its ONNX file, and none was given")
    if name not in _FACTORIES:
        raise ValueError(f"unknown model '{name}'; this package builds: {', '.join(NAMES)}, and from an ONNX file "
                         f"{', '.join(ONNX_NAMES)}")
    if timm is not None:
        return timm_models.create(timm, name, num_classes, image_size, in_chans)
    return _FACTORIES[name](num_classes, image_size, in_chans)
