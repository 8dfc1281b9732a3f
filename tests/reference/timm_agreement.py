"""Checks that timm's own modules, run through python/scalekd/models/timm_models.py, compute what this package's
definitions compute: for every model name, the state dicts have the same keys and shapes, and (for each model small
enough to run here) the package model's random weights loaded strictly into timm's give the same four stage maps,
pre-logits, logits and, for the TPP teachers, stage 4 from independent stage-3 tokens, in float64, in eval mode
(BatchNorm's running statistics) and in train mode (batch statistics, as the job trains).

    PYTHONPATH=DIR_WITH_TIMM /usr/bin/python3 tests/reference/timm_agreement.py [--json FILE] [--package DIR]

--package: the folder holding the scalekd package (default: this repository's python/).

Prints one line per model with the largest error relative to each output's largest magnitude; exits 1 if any model
differs in layout or exceeds the bar, 3 if timm cannot be imported (the caller skips)."""
import argparse
import json
import os
import sys
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
parser = argparse.ArgumentParser()
parser.add_argument("--json", help="write the per-model errors here")
parser.add_argument("--package", default=os.path.join(here, "..", "..", "python"), help="the folder of the scalekd package")
args = parser.parse_args()
sys.path.insert(0, here)
sys.path.insert(0, args.package)
from fixture import randomize_  # noqa: E402
from scalekd import models  # noqa: E402
from scalekd.models import timm_models  # noqa: E402

# Both sides compute in float64 and differ only in the order of sums (timm's fused qkv reshape, its LayerNorm2d, its
# pooling); the largest sum here (a 7x7 depthwise or a 3x3 over 512 channels) has at most n = 4,608 terms, so each
# layer is off by at most n*u = 5e-13 relative, about 1e-11 over ~20 layers. 1e-9 leaves a factor of 100 for the
# network amplifying an early rounding and is still far below one float32 rounding (6e-8): a missing activation, a
# norm at the wrong place, a stage taken at the wrong block or a wrong window shift fail it by orders of magnitude.
BAR = 1e-9

# (name, image size) run forward; the full-size ones at a small size, which their grids allow; Swin at 48 px has stage
# maps (6 x 6) that its window (4) does not divide: the padded, masked case.
RUN = [("resnet_pico", 32), ("resnet_pico_bottleneck", 32), ("mobilenetv1_pico", 32), ("convnext_test_pico", 32),
       ("vit_pico_patch4_32", 32), ("swin_pico_patch2_window4_32", 32), ("swin_pico_patch2_window4_32", 48),
       ("mixer_pico_patch4_32", 32),
       ("mixer_pico_patch4_32", 64), ("resnet18", 64), ("mobilenetv1_100", 64), ("convnext_tiny", 64),
       ("vit_tiny_patch16_224", 64), ("swin_tiny_patch4_window7_224", 64), ("mixer_s16_224", 64)]
TPP = {"resnet_pico", "resnet18", "vit_pico_patch4_32", "vit_tiny_patch16_224", "swin_pico_patch2_window4_32",
       "swin_tiny_patch4_window7_224"}


def layout(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def relative(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def outputs(model, images, tokens):
    stages, pre_logits, logits = model.forward_stages(images)
    named = {f"stage{i + 1}": s for i, s in enumerate(stages)}
    named.update(pre_logits=pre_logits, logits=logits)
    if tokens is not None:
        named["stage4_from_stage3"] = model.forward_from_stage(tokens, 3)
    return named


def compare(timm, name, size, classes=10):
    torch.manual_seed(0)
    ours = models.create(name, classes, size)
    theirs = timm_models.create(timm, name, classes, size)
    if layout(ours) != layout(theirs):
        a, b = layout(ours), layout(theirs)
        raise AssertionError(f"{name}: state dicts differ: only here {sorted(set(a) - set(b))[:5]}, only in timm "
                             f"{sorted(set(b) - set(a))[:5]}, shapes {[k for k in a if k in b and a[k] != b[k]][:5]}")
    randomize_(ours, seed=7)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    ours.double(), theirs.double()
    g = torch.Generator().manual_seed(11)
    images = torch.randn(3, 3, size, size, generator=g, dtype=torch.float64)
    tokens = None
    if name in TPP:
        ours.eval()  # a forward in train mode would move BatchNorm's running statistics on one side only
        with torch.no_grad():
            s3 = ours.forward_stages(images)[0][2]
        tokens = torch.randn(3, s3.shape[2] * s3.shape[3], s3.shape[1], generator=g, dtype=torch.float64)
    worst = {}
    for mode in ("eval", "train"):
        ours.train(mode == "train"), theirs.train(mode == "train")
        with torch.no_grad():
            a, b = outputs(ours, images, tokens), outputs(theirs, images, tokens)
        for key in a:
            worst[f"{mode}.{key}"] = relative(b[key], a[key])
    return worst


def main():
    timm, why = timm_models.import_timm()
    if timm is None:
        print(f"timm cannot be imported: {why}")
        sys.exit(3)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, timm {timm.__version__}, bar {BAR:g}")
    failures, report = [], {"torch": torch.__version__, "timm": timm.__version__, "bar": BAR, "layout": [], "runs": {}}
    if sorted(timm_models.BUILDS) != models.NAMES:
        failures.append(f"timm_models.BUILDS names {sorted(set(timm_models.BUILDS) ^ set(models.NAMES))} on one side only")
    for name in models.NAMES:  # every name's layout, including those too large to run here
        try:
            ours, theirs = layout(models.create(name, 10, 224)), layout(timm_models.create(timm, name, 10, 224))
            if ours != theirs:
                failures.append(f"{name}: state dicts differ")
            report["layout"].append(name)
        except Exception as e:
            failures.append(f"{name}: {type(e).__name__}: {e}")
    for name, size in RUN:
        clock = time.time()
        try:
            worst = compare(timm, name, size)
        except Exception as e:
            failures.append(f"{name}@{size}: {type(e).__name__}: {e}")
            continue
        key = max(worst, key=worst.get)
        report["runs"][f"{name}@{size}"] = worst
        print(f"{name} @ {size} px: largest {worst[key]:.1e} ({key}) over {len(worst)} outputs, {time.time() - clock:.1f} s")
        if worst[key] > BAR:
            failures.append(f"{name}@{size}: {key} differs by {worst[key]:.2e} of its scale")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
    print(f"layouts equal for {len(report['layout'])} of {len(models.NAMES)} names")
    for f in failures:
        print(f"FAIL {f}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
