"""RandAugment and random erasing as timm applies them in its training transform (rand-m9-mstd0.5-inc1, RandomErasing
in 'pixel' mode: the recipe's `--augment official`), with the settings job.json carries.

The ops are PIL's on 8-bit images, the calls timm makes, with its level-to-argument table; ScaleKD.Torch's
RandAugment computes the same ops on tensors and is held to these: tests/reference/cases_aug.py writes its
augmentation fixture with this module's ops, and a job test compares the argument table entry by entry. The random
draws come from the job's generator, so they differ from the .NET trainer's, as a PyTorch run's do anyway."""
import math

import torch

# timm's _RAND_INCREASING_TRANSFORMS (and _RAND_TRANSFORMS) order; ScaleKD.Torch's RandAugmentOp has the same.
OPS = ["AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color", "Contrast",
       "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"]
LEVEL_DENOMINATOR = 10.0  # timm's _LEVEL_DENOM: magnitude 10 is an op's full strength


def _pil():
    try:
        from PIL import Image, ImageEnhance, ImageOps
        return Image, ImageEnhance, ImageOps
    except ImportError as e:
        raise ImportError("RandAugment runs PIL's image ops: install Pillow (Debian: python3-pil)") from e


def solarize_add(img, add, thresh=128):
    """timm's solarize_add: adds `add` (capped at 255) to the codes below `thresh`."""
    lut = [min(255, i + add) if i < thresh else i for i in range(256)]
    return img.point(lut * len(img.getbands()))


def affine(img, matrix, fill):
    """timm's shear and translate: PIL's inverse affine map, bilinear, uncovered pixels filled."""
    image, _, _ = _pil()
    return img.transform(img.size, image.AFFINE, matrix, resample=image.BILINEAR, fillcolor=fill)


def rotate(img, degrees, fill):
    image, _, _ = _pil()
    return img.rotate(degrees, resample=image.BILINEAR, fillcolor=fill)


def argument(op, magnitude, negate, increasing=True, translate_fraction=0.45):
    """timm's level-to-argument functions for this policy (RandAugment.Argument in ScaleKD.Torch); None for the ops
    without one. `negate` is timm's _randomly_negate draw."""
    level = magnitude / LEVEL_DENOMINATOR
    sign = -1.0 if negate else 1.0
    if op in ("AutoContrast", "Equalize", "Invert"):
        return None
    if op == "Rotate":
        return sign * level * 30.0
    if op in ("ShearX", "ShearY"):
        return sign * level * 0.3
    if op in ("TranslateXRel", "TranslateYRel"):
        return sign * level * translate_fraction
    if op == "Posterize":
        return 4 - math.floor(level * 4) if increasing else math.floor(level * 4)
    if op == "Solarize":
        return 256 - min(256, math.floor(level * 256)) if increasing else min(256, math.floor(level * 256))
    if op == "SolarizeAdd":
        return min(128, math.floor(level * 110))
    if op in ("Color", "Contrast", "Brightness", "Sharpness"):
        return max(0.1, 1.0 + sign * level * 0.9) if increasing else level * 1.8 + 0.1
    raise ValueError(f"unknown RandAugment op '{op}'")


def apply_op(img, op, arg, fill):
    """One op on a PIL image ('L' or 'RGB'), as timm's RandAugment calls PIL."""
    _, enhance, ops = _pil()
    if op == "AutoContrast":
        return ops.autocontrast(img)
    if op == "Equalize":
        return ops.equalize(img)
    if op == "Invert":
        return ops.invert(img)
    if op == "Rotate":
        return rotate(img, arg, fill)
    if op == "Posterize":
        return img if arg >= 8 else ops.posterize(img, int(arg))
    if op == "Solarize":
        return ops.solarize(img, int(arg))
    if op == "SolarizeAdd":
        return solarize_add(img, int(arg))
    if op in ("Color", "Contrast", "Brightness", "Sharpness"):
        return getattr(enhance, op)(img).enhance(arg)
    if op == "ShearX":
        return affine(img, (1, arg, 0, 0, 1, 0), fill)
    if op == "ShearY":
        return affine(img, (1, 0, 0, arg, 1, 0), fill)
    if op == "TranslateXRel":
        return affine(img, (1, 0, arg * img.size[0], 0, 1, 0), fill)
    if op == "TranslateYRel":
        return affine(img, (1, 0, 0, 0, 1, arg * img.size[1]), fill)
    raise ValueError(f"unknown RandAugment op '{op}'")


def _uniform(g, lo, hi):
    return lo + (hi - lo) * torch.rand((), generator=g, dtype=torch.float64).item()


class RandAugment:
    """timm's RandAugment: `ops_per_image` ops drawn with replacement, each applied with `probability` at a magnitude
    drawn around `magnitude` (N(m, mstd²); uniform on [0, m] for an infinite mstd) and clipped to [0, magnitude_max]."""

    def __init__(self, settings):
        self.s = settings
        _pil()  # fail at start-up, not at the first batch

    def fill(self, channels):
        """The fill colour as PIL takes it: the configured colour in codes, or for a one-channel image and a colour,
        its luma rounded to a code (what PIL's convert('L') gives it), as ScaleKD.Torch's RandAugment.FillFor."""
        fill = self.s["fill"]
        if channels == 1:
            value = fill[0] if len(fill) == 1 else 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2]
            return int(round(255 * value))
        return tuple(int(round(255 * v)) for v in (fill * channels if len(fill) == 1 else fill))

    def __call__(self, img, g):
        fill = self.fill(len(img.getbands()))
        for _ in range(self.s["ops_per_image"]):
            op = OPS[int(torch.randint(0, len(OPS), (), generator=g))]
            if torch.rand((), generator=g).item() > self.s["probability"]:
                continue
            m, std = self.s["magnitude"], self.s["magnitude_std"]
            if std == float("inf"):
                m = _uniform(g, 0, m)
            elif std > 0:
                m = m + std * torch.randn((), generator=g, dtype=torch.float64).item()
            m = max(0.0, min(m, self.s["magnitude_max"]))
            negate = torch.rand((), generator=g).item() > 0.5
            img = apply_op(img, op, argument(op, m, negate, self.s["increasing"], self.s["translate_fraction"]), fill)
        return img

    def tensor(self, image, g):
        """On one (C, H, W) image in [0, 1]: to 8-bit codes, as timm's pipeline holds images, and back."""
        import numpy as np  # PyTorch's own dependency
        pil, _, _ = _pil()
        c, h, w = image.shape
        codes = (image * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
        out = self(pil.fromarray(codes[:, :, 0] if c == 1 else codes, "L" if c == 1 else "RGB"), g)
        data = torch.from_numpy(np.array(out, dtype=np.uint8)).reshape(h, w, c)
        return data.permute(2, 0, 1).to(image.dtype) / 255


def erase(image, g, settings):
    """timm's RandomErasing on one normalised (C, H, W) image, in place: with the probability, `count` boxes, each up
    to ten tries of an area fraction and a log-uniform aspect ratio whose box fits strictly inside."""
    if torch.rand((), generator=g, dtype=torch.float64).item() > settings["probability"]:
        return image
    c, h, w = image.shape
    lo, hi = settings["count"]
    count = lo if lo == hi else int(torch.randint(lo, hi + 1, (), generator=g))
    for _ in range(count):
        for _ in range(10):
            target = _uniform(g, *settings["area"]) * h * w / count
            aspect = math.exp(_uniform(g, *settings["log_aspect"]))
            bh, bw = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if bw < w and bh < h:
                top = int(torch.randint(0, h - bh + 1, (), generator=g))
                left = int(torch.randint(0, w - bw + 1, (), generator=g))
                mode = settings["mode"]
                shape = (c, bh, bw) if mode == "pixel" else (c, 1, 1)
                fill = torch.randn(shape, generator=g, dtype=image.dtype) if mode in ("pixel", "rand") \
                    else torch.zeros(shape, dtype=image.dtype)
                image[:, top:top + bh, left:left + bw] = fill
                break
    return image
