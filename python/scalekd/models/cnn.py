"""CNN models: ResNet, MobileNetV1 and ConvNeXt, written by hand after timm's
resnet.py, efficientnet.py (_gen_mobilenet_v1) and convnext.py, with timm's module and parameter names.

Debian's PyTorch has no timm, so these modules stand in for it. Each tiny configuration is one that timm itself can
build (the constructor call is given beside it), so a fixture's weights also load into timm.

Every model exposes forward_stages(images) -> ([4 stage maps], pre_logits, logits) (ResNet also forward_from_stage
for TPP). These methods read only submodules that timm's models name and shape the same way: timm_models.py runs
timm's own modules through them."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------------------------- ResNet

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        return F.relu(x + shortcut)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.bn3(self.conv3(x))
        return F.relu(x + shortcut)


class ResNet(nn.Module):
    """timm ResNet with the default stem (7x7 conv of 64 channels, 3x3 max pool) and 1x1-conv downsampling."""

    def __init__(self, block, layers, channels=(64, 128, 256, 512), num_classes=10, in_chans=3):
        super().__init__()
        inplanes = 64
        self.conv1 = nn.Conv2d(in_chans, inplanes, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        for i, (planes, repeats) in enumerate(zip(channels, layers)):
            stride = 1 if i == 0 else 2
            blocks = []
            for j in range(repeats):
                downsample = None
                if j == 0 and (stride != 1 or inplanes != planes * block.expansion):
                    downsample = nn.Sequential(
                        nn.Conv2d(inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                        nn.BatchNorm2d(planes * block.expansion))
                blocks.append(block(inplanes, planes, stride if j == 0 else 1, downsample))
                inplanes = planes * block.expansion
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(inplanes, num_classes)

    def forward_stages(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        stages = []
        for i in range(4):
            x = getattr(self, f"layer{i + 1}")(x)
            stages.append(x)
        pre_logits = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return stages, pre_logits, self.fc(pre_logits)

    def forward_from_stage(self, tokens, stage):
        """TPP for a ResNet teacher: layer4 on stage-3 tokens (N, H*W, C) laid out as a map; returns stage-4 tokens."""
        assert stage == 3
        n, l, c = tokens.shape
        side = int(round(l ** 0.5))
        x = self.layer4(tokens.transpose(1, 2).reshape(n, c, side, side))
        return x.flatten(2).transpose(1, 2)


# ----------------------------------------------------------------------------------------------------- MobileNetV1

def make_divisible(v, divisor=8, round_limit=0.9):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < round_limit * v else new_v


class BatchNormAct2d(nn.BatchNorm2d):
    """timm's BatchNormAct2d with ReLU6: the activation belongs to the norm layer, as in timm's MobileNetV1 stem."""

    def forward(self, x):
        return F.relu6(super().forward(x))


class DepthwiseSeparableConv(nn.Module):
    """timm's 'dsa' block: 3x3 depthwise conv, BN, ReLU6, 1x1 conv, BN, ReLU6; no skip connection."""

    def __init__(self, in_chs, out_chs, stride):
        super().__init__()
        self.conv_dw = nn.Conv2d(in_chs, in_chs, 3, stride=stride, padding=1, groups=in_chs, bias=False)
        self.bn1 = nn.BatchNorm2d(in_chs)
        self.conv_pw = nn.Conv2d(in_chs, out_chs, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chs)

    def forward(self, x):
        x = F.relu6(self.bn1(self.conv_dw(x)))
        return F.relu6(self.bn2(self.conv_pw(x)))


class MobileNetV1(nn.Module):
    """timm _gen_mobilenet_v1 without a head conv: conv_stem, bn1, five block groups, classifier."""
    ARCH = [(1, 1, 64), (2, 2, 128), (2, 2, 256), (6, 2, 512), (2, 2, 1024)]  # repeats, stride, channels

    def __init__(self, channel_multiplier=1.0, depth_multiplier=1.0, num_classes=10, in_chans=3):
        super().__init__()
        stem = make_divisible(32 * channel_multiplier)
        self.conv_stem = nn.Conv2d(in_chans, stem, 3, stride=2, padding=1, bias=False)
        self.bn1 = BatchNormAct2d(stem)
        groups, in_chs = [], stem
        for repeats, stride, chs in self.ARCH:
            out_chs = make_divisible(chs * channel_multiplier)
            blocks = []
            for j in range(int(math.ceil(repeats * depth_multiplier))):
                blocks.append(DepthwiseSeparableConv(in_chs, out_chs, stride if j == 0 else 1))
                in_chs = out_chs
            groups.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*groups)
        self.classifier = nn.Linear(in_chs, num_classes)

    def forward_stages(self, x):
        x = self.bn1(self.conv_stem(x))
        stages = []
        for i, group in enumerate(self.blocks):
            x = group(x)
            if i >= 1:  # the groups ending at strides 4, 8, 16 and 32
                stages.append(x)
        pre_logits = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return stages, pre_logits, self.classifier(pre_logits)


# -------------------------------------------------------------------------------------------------------- ConvNeXt

class LayerNorm2d(nn.LayerNorm):
    def __init__(self, channels):
        super().__init__(channels, eps=1e-6)

    def forward(self, x):
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv_dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x):
        shortcut = x
        x = self.conv_dw(x).permute(0, 2, 3, 1)
        x = self.mlp(self.norm(x)).permute(0, 3, 1, 2)
        return x * self.gamma.reshape(1, -1, 1, 1) + shortcut


class ConvNeXtStage(nn.Module):
    def __init__(self, in_chs, out_chs, depth, downsample):
        super().__init__()
        self.downsample = nn.Sequential(LayerNorm2d(in_chs), nn.Conv2d(in_chs, out_chs, 2, stride=2)) \
            if downsample else nn.Identity()
        self.blocks = nn.Sequential(*[ConvNeXtBlock(out_chs) for _ in range(depth)])

    def forward(self, x):
        return self.blocks(self.downsample(x))


class NormMlpClassifierHead(nn.Module):
    def __init__(self, dim, num_classes):
        super().__init__()
        self.norm = LayerNorm2d(dim)
        self.fc = nn.Linear(dim, num_classes)


class ConvNeXt(nn.Module):
    """timm ConvNeXt with the patch stem, channels-last blocks and the pool -> norm -> fc head."""

    def __init__(self, depths=(3, 3, 9, 3), dims=(96, 192, 384, 768), num_classes=10, in_chans=3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_chans, dims[0], 4, stride=4), LayerNorm2d(dims[0]))
        self.stages = nn.Sequential(*[
            ConvNeXtStage(dims[max(i - 1, 0)], dims[i], depths[i], downsample=i > 0) for i in range(4)])
        self.head = NormMlpClassifierHead(dims[-1], num_classes)

    def forward_stages(self, x):
        x = self.stem(x)
        stages = []
        for stage in self.stages:
            x = stage(x)
            stages.append(x)
        pre_logits = self.head.norm(x.mean((2, 3), keepdim=True)).flatten(1)
        return stages, pre_logits, self.head.fc(pre_logits)
