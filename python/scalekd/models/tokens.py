"""Token models (ViT, Swin, MLP-Mixer) with timm's parameter names, written by hand for PyTorch 1.13
(which has no scaled_dot_product_attention: attention is an explicit softmax here).

They follow timm's current layout (pytorch-image-models, swin_transformer.py with patch merging at the start of
stages 2-4 and head.fc; vision_transformer.py; mlp_mixer.py) but are written independently of the C# models: the Swin
relative-position index comes from a meshgrid, the shifted-window mask from region slices, and patch merging
concatenates the four strided sub-grids as the original Microsoft code does.

Every model exposes forward_stages(images) -> ([4 stage maps], pre_logits, logits); ViT and Swin (the teachers that
serve TPP) also forward_from_stage(tokens, 3). These methods read only submodules that timm's models name and shape
the same way, and take sizes from the tensors rather than from attributes of this package's modules: timm_models.py
runs timm's own modules through them."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def softmax_attention(q, k, v, bias=None):
    """q, k, v: (..., L, d). Explicit scaled softmax attention with an optional additive bias."""
    logits = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
    if bias is not None:
        logits = logits + bias
    return logits.softmax(dim=-1) @ v


def to_map(tokens):
    """(N, side*side, C) -> (N, C, side, side): the models' images and grids are square."""
    n, l, c = tokens.shape
    side = math.isqrt(l)
    return tokens.transpose(1, 2).reshape(n, c, side, side)


# ----------------------------------------------------------------------------------------------- ViT

class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, l, d = x.shape
        q, k, v = self.qkv(x).reshape(n, l, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = softmax_attention(q, k, v)
        return self.proj(y.transpose(1, 2).reshape(n, l, d))


class VitBlock(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """timm's PatchEmbed: (N, H*W, C) tokens when `flatten` (ViT, Mixer), else an (N, H, W, C) map (Swin)."""

    def __init__(self, in_chans, dim, patch, norm_eps=None, flatten=False):
        super().__init__()
        self.flatten = flatten
        self.proj = nn.Conv2d(in_chans, dim, patch, stride=patch)
        if norm_eps is not None:
            self.norm = nn.LayerNorm(dim, eps=norm_eps)
        else:
            self.norm = None

    def forward(self, x):
        x = self.proj(x).permute(0, 2, 3, 1)
        if self.flatten:
            x = x.flatten(1, 2)
        return x if self.norm is None else self.norm(x)


class VisionTransformer(nn.Module):
    def __init__(self, img_size, patch, dim, depth, heads, num_classes, in_chans=3):
        super().__init__()
        grid = img_size // patch
        self.patch_embed = PatchEmbed(in_chans, dim, patch, flatten=True)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid ** 2, dim))
        self.blocks = nn.Sequential(*[VitBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward_stages(self, images):
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        per_stage = len(self.blocks) // 4
        stages = []
        for s in range(4):
            for blk in self.blocks[s * per_stage:(s + 1) * per_stage]:
                x = blk(x)
            if s == 3:
                x = self.norm(x)
            stages.append(to_map(x[:, 1:]))
        pre_logits = x[:, 0]
        return stages, pre_logits, self.head(pre_logits)

    def forward_from_stage(self, tokens, stage):
        x = tokens
        for blk in self.blocks[stage * (len(self.blocks) // 4):]:
            x = blk(x)
        return self.norm(x)


# ---------------------------------------------------------------------------------------------- Swin

def relative_position_index(ws):
    rows, cols = torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")
    coords = torch.stack([rows.flatten(), cols.flatten()])  # 2, ws*ws
    rel = coords[:, :, None] - coords[:, None, :]  # 2, area, area
    return (rel[0] + ws - 1) * (2 * ws - 1) + (rel[1] + ws - 1)


def partition(x, ws):
    """(N, H, W, C) -> (N * windows, ws*ws, C), windows row-major."""
    n, h, w, c = x.shape
    x = x.view(n, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def unpartition(windows, ws, n, h, w):
    c = windows.shape[-1]
    x = windows.view(n, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(n, h, w, c)


def shift_mask(res, ws, shift):
    img = torch.zeros(1, res, res, 1)
    label = 0
    for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
        for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            img[:, hs, wsl, :] = label
            label += 1
    windows = partition(img, ws).squeeze(-1)  # nW, area
    diff = windows[:, None, :] - windows[:, :, None]
    return torch.where(diff != 0, torch.tensor(-100.0), torch.tensor(0.0))


class WindowAttention(nn.Module):
    def __init__(self, dim, heads, ws):
        super().__init__()
        self.heads = heads
        self.ws = ws
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * ws - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(ws), persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask):
        b, l, c = x.shape
        q, k, v = self.qkv(x).reshape(b, l, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(l, l, self.heads).permute(2, 0, 1)[None]  # 1, heads, l, l
        if mask is not None:
            nw = mask.shape[0]
            bias = (bias[:, None] + mask[None, :, None]).expand(b // nw, -1, -1, -1, -1).reshape(b, self.heads, l, l)
        y = softmax_attention(q, k, v, bias)
        return self.proj(y.transpose(1, 2).reshape(b, l, c))


class SwinBlock(nn.Module):
    def __init__(self, dim, res, heads, window, shifted):
        super().__init__()
        self.res = res
        self.ws = min(window, res)
        self.shift = window // 2 if shifted and res > self.ws else 0
        self.padded = -(-res // self.ws) * self.ws  # maps not divisible by the window are zero-padded after the shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, self.ws)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 4 * dim)
        # A plain attribute, not a buffer: fixture.randomize_ randomises every float buffer, persistent or not.
        self.attn_mask = shift_mask(self.padded, self.ws, self.shift) if self.shift else None

    def forward(self, x):
        n, h, w, c = x.shape
        y = self.norm1(x)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        pad = self.padded - h
        y = F.pad(y, (0, 0, 0, pad, 0, pad))
        y = unpartition(self.attn(partition(y, self.ws), self.attn_mask), self.ws, n, self.padded, self.padded)
        y = y[:, :h, :w]
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y
        x = x + self.mlp(self.norm2(x))
        return x


class PatchMerging(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x):
        x0 = x[:, 0::2, 0::2]
        x1 = x[:, 1::2, 0::2]
        x2 = x[:, 0::2, 1::2]
        x3 = x[:, 1::2, 1::2]
        return self.reduction(self.norm(torch.cat([x0, x1, x2, x3], dim=-1)))


class SwinStage(nn.Module):
    def __init__(self, dim, res, depth, heads, window, downsample):
        super().__init__()
        self.downsample = PatchMerging(dim // 2) if downsample else nn.Identity()
        self.blocks = nn.Sequential(*[SwinBlock(dim, res, heads, window, i % 2 == 1) for i in range(depth)])

    def forward(self, x):
        return self.blocks(self.downsample(x))


class Head(nn.Module):
    def __init__(self, dim, num_classes):
        super().__init__()
        self.fc = nn.Linear(dim, num_classes)


class Swin(nn.Module):
    def __init__(self, img_size, patch, window, dim, depths, heads, num_classes, in_chans=3):
        super().__init__()
        grid = img_size // patch
        self.patch_embed = PatchEmbed(in_chans, dim, patch, norm_eps=1e-5)
        self.layers = nn.Sequential(*[
            SwinStage(dim * 2 ** i, grid // 2 ** i, depths[i], heads[i], window, i > 0) for i in range(4)])
        self.norm = nn.LayerNorm(dim * 8)
        self.head = Head(dim * 8, num_classes)

    def forward_stages(self, images):
        x = self.patch_embed(images)
        stages = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == 3:
                x = self.norm(x)
            stages.append(x.permute(0, 3, 1, 2))
        pre_logits = x.mean(dim=(1, 2))
        return stages, pre_logits, self.head.fc(pre_logits)

    def forward_from_stage(self, tokens, stage):
        n, l, c = tokens.shape
        side = math.isqrt(l)
        x = tokens.reshape(n, side, side, c)
        for layer in self.layers[stage:]:
            x = layer(x)
        x = self.norm(x)
        return x.reshape(n, -1, x.shape[-1])


# --------------------------------------------------------------------------------------------- Mixer

class MixerBlock(nn.Module):
    def __init__(self, dim, seq_len):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_tokens = Mlp(seq_len, dim // 2)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp_channels = Mlp(dim, 4 * dim)

    def forward(self, x):
        x = x + self.mlp_tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.mlp_channels(self.norm2(x))


class Mixer(nn.Module):
    def __init__(self, img_size, patch, dim, depth, num_classes, in_chans=3):
        super().__init__()
        grid = img_size // patch
        self.stem = PatchEmbed(in_chans, dim, patch, flatten=True)
        self.blocks = nn.Sequential(*[MixerBlock(dim, grid ** 2) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes)

    def forward_stages(self, images):
        x = self.stem(images)
        per_stage = len(self.blocks) // 4
        stages = []
        for s in range(4):
            for blk in self.blocks[s * per_stage:(s + 1) * per_stage]:
                x = blk(x)
            if s == 3:
                x = self.norm(x)
            stages.append(to_map(x))
        pre_logits = x.mean(dim=1)
        return stages, pre_logits, self.head(pre_logits)
