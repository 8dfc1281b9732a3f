"""Parity fixtures for the CNN students of python/scalekd/models/cnn.py (ResNet, MobileNetV1, ConvNeXt; timm's
module and parameter names), the Python package the PyTorch job runs.

Each tiny configuration is one that timm itself can build (the constructor call is given beside it), so a fixture's
weights also load into timm.
"""
import torch

from fixture import model_case
from scalekd.models.cnn import BasicBlock, Bottleneck, ConvNeXt, MobileNetV1, ResNet


# ----------------------------------------------------------------------------------------------------------- cases

def tiny_models():
    """The registered tiny configurations, by their ScaleKD.Torch name, with the timm call that builds the same."""
    return {
        # timm.models.resnet.ResNet(BasicBlock, (1, 1, 1, 1), channels=(8, 16, 24, 32), num_classes=10)
        "resnet_pico": lambda: ResNet(BasicBlock, (1, 1, 1, 1), (8, 16, 24, 32)),
        # timm.models.resnet.ResNet(Bottleneck, (1, 1, 1, 1), channels=(4, 8, 12, 16), num_classes=10)
        "resnet_pico_bottleneck": lambda: ResNet(Bottleneck, (1, 1, 1, 1), (4, 8, 12, 16)),
        # timm.models.efficientnet._gen_mobilenet_v1('', 0.125, depth_multiplier=0.5, num_classes=10)
        "mobilenetv1_pico": lambda: MobileNetV1(0.125, 0.5),
        # timm.models.convnext.ConvNeXt(depths=(1, 1, 1, 1), dims=(8, 16, 24, 32), num_classes=10)
        "convnext_test_pico": lambda: ConvNeXt((1, 1, 1, 1), (8, 16, 24, 32)),
    }


def full_models():
    """The full-size timm configurations (1000 classes), for their state-dict keys and shapes only."""
    return {
        "resnet18": lambda: ResNet(BasicBlock, (2, 2, 2, 2), num_classes=1000),
        "resnet50": lambda: ResNet(Bottleneck, (3, 4, 6, 3), num_classes=1000),
        "mobilenetv1_100": lambda: MobileNetV1(1.0, num_classes=1000),
        "convnext_tiny": lambda: ConvNeXt(num_classes=1000),
    }


def state_shapes():
    """One tensor per state-dict entry of each full-size model, named '<model>/<key>', holding [ndim, *shape]:
    the C# models must produce exactly these keys and shapes."""
    tensors = {}
    for name, create in full_models().items():
        for key, value in create().state_dict().items():
            tensors[f"{name}/{key}"] = torch.tensor([value.dim(), *value.shape], dtype=torch.int64)
    return tensors


def cases():
    torch.manual_seed(0)
    for seed, (name, create) in enumerate(tiny_models().items()):
        yield f"cnn_{name}_32", model_case(create(), image_size=32, seed=100 + seed)
    yield "cnn_resnet_pico_28", model_case(tiny_models()["resnet_pico"](), image_size=28, seed=200)
    yield "cnn_state_shapes", state_shapes()


if __name__ == "__main__":
    for name, create in full_models().items():
        print(name, sum(p.numel() for p in create().parameters()))
