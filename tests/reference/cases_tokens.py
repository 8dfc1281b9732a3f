"""Fixtures of the token models (ViT, Swin, MLP-Mixer) of python/scalekd/models/tokens.py, the Python package the
PyTorch job runs (one implementation of the models and the method, not two).

Fixtures (prefix tok_):
  tok_<config>                  the whole-model case of fixture.model_case at 32 px, 10 classes
  tok_swin_padded_patch2_window5_48   a Swin whose windows need padding (see swin_padded), 48 px
  tok_<config>_from_stage3      forward_from_stage(tokens, 3) on random stage-3 tokens: output.tokens and
                                grad.tokens of sum(out * out_weights). It holds no parameters: the weights are
                                those of tok_<config> (the same model instance writes both files).
"""
import torch

import fixture
from scalekd.models.tokens import Mixer, Swin, VisionTransformer

NUM_CLASSES = 10
IMAGE_SIZE = 32


def from_stage_case(model, stage_shape, seed, batch=2):
    """Random tokens in the stage-3 layout (N, H*W, C) through forward_from_stage(tokens, 3), and the gradient of
    sum(out * out_weights) with respect to the tokens."""
    c, h, w = stage_shape
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(batch, h * w, c, generator=g).requires_grad_(True)
    out = model.forward_from_stage(tokens, 3)
    out_weights = torch.randn(out.shape, generator=g)
    (out * out_weights).sum().backward()
    return {"input.tokens": tokens.detach(), "input.out_weights": out_weights,
            "output.tokens": out.detach(), "grad.tokens": tokens.grad}


def swin_padded():
    """A Swin whose maps (24, 12, 6) are not multiples of its window (5) and whose last map (3) clamps it: the
    zero padding after the cyclic shift and the mask over the padded map, as timm does. 48 px, batch 1."""
    return Swin(48, 2, 5, 4, [2, 2, 1, 1], [1, 1, 2, 2], NUM_CLASSES)


def pico_models():
    return [
        ("tok_vit_pico_patch4_32", 11, VisionTransformer(IMAGE_SIZE, 4, 32, 4, 2, NUM_CLASSES), (32, 8, 8)),
        ("tok_swin_pico_patch2_window4_32", 12,
         Swin(IMAGE_SIZE, 2, 4, 8, [2, 2, 1, 1], [2, 2, 4, 4], NUM_CLASSES), (32, 4, 4)),
        ("tok_mixer_pico_patch4_32", 13, Mixer(IMAGE_SIZE, 4, 32, 4, NUM_CLASSES), None),
    ]


def cases():
    for name, seed, model, stage3 in pico_models():
        yield name, fixture.model_case(model, IMAGE_SIZE, seed)
        if stage3 is not None:
            yield name + "_from_stage3", from_stage_case(model, stage3, seed + 100)
    yield "tok_swin_padded_patch2_window5_48", fixture.model_case(swin_padded(), 48, 14, batch=1)
