"""Shared helpers for writing parity fixtures: deterministic parameters, and one safetensors file per case.

Key layout of a fixture file (read by tests/ScaleKD.Torch.Tests/Parity/ParityFixture.cs):
  param.<name>    every parameter and persistent buffer of the module under test, by its timm name
  input.<name>    inputs
  output.<name>   forward outputs (and each loss term)
  grad.<name>     gradients of the case's scalar objective with respect to inputs
"""
import os

import torch

from scalekd.safetensors_io import save

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def randomize_(module, seed, scale=0.2):
    """Gives every parameter and float buffer random values, so that no zero-initialised weight hides a mistake.
    BatchNorm running variances stay positive."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not t.is_floating_point():
                continue
            values = torch.randn(t.shape, generator=g) * scale
            if name.endswith("running_var"):
                values = values.abs() + 0.5
            elif name.endswith(".weight") and t.dim() == 1:  # norm scales near 1
                values = values + 1.0
            t.copy_(values)


def half_state(module, prefix):
    """Rounds every float parameter and buffer to a value float16 represents exactly, and returns the state dict in
    float16 under param.<prefix>: half the bytes, and the float32 model computes with exactly these values."""
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())
    return {f"param.{prefix}{k}": (v.half() if v.is_floating_point() else v.clone()) for k, v in module.state_dict().items()}


def param_checksum(module):
    """Sum of all float parameters in float64: lets a test confirm it loaded the same weights from another fixture."""
    return torch.tensor([sum(p.detach().double().sum().item() for p in module.parameters())], dtype=torch.float64)


def state(module):
    """The module's state dict (parameters and persistent buffers) under the param. prefix."""
    return {f"param.{k}": v.clone() for k, v in module.state_dict().items()}


def write(name, tensors):
    os.makedirs(FIXTURES, exist_ok=True)
    path = os.path.join(FIXTURES, f"{name}.safetensors")
    save(path, tensors)
    print(f"{name}: {len(tensors)} tensors, {os.path.getsize(path) / 1024:.1f} KiB")


def model_case(model, image_size, seed, in_chans=3, batch=2):
    """The standard whole-model fixture: randomised weights in eval mode, a forward through forward_stages(images)
    (which returns the four stage maps (N,C,H,W), the pooled pre-logits and the logits), and the gradient of
    sum(logits * logit_weights) with respect to the images."""
    randomize_(model, seed)
    model.eval()
    g = torch.Generator().manual_seed(seed + 1)
    images = torch.randn(batch, in_chans, image_size, image_size, generator=g).requires_grad_(True)
    stages, pre_logits, logits = model.forward_stages(images)
    logit_weights = torch.randn(logits.shape, generator=g)
    (logits * logit_weights).sum().backward()
    tensors = state(model)
    tensors.update({"input.images": images.detach(), "input.logit_weights": logit_weights,
                    "output.pre_logits": pre_logits.detach(), "output.logits": logits.detach(),
                    "grad.images": images.grad})
    for i, s in enumerate(stages):
        tensors[f"output.stage{i + 1}"] = s.detach()
    return tensors
