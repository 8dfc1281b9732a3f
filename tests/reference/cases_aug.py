"""Fixtures for the image augmentation (src/ScaleKD.Torch/Training/Augmentation): what PIL computes for the calls timm's
RandAugment (python/scalekd/augment.py, which the PyTorch job runs) and crops make, with fixed arguments, on two small
8-bit RGB images and their grayscale versions.

Key layout: input.images (2, 3, 16, 16) and input.gray (2, 1, 16, 16) hold the 8-bit codes / 255; output.<case> holds PIL's
result / 255 for the case named in CASES (op name, then the argument with '.' written as 'p' and '-' as 'm'). The
geometric ops fill with timm's ImageNet img_mean (124, 116, 104) and resample bilinearly, as timm's transforms factory
configures them when an interpolation is given.
"""
import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps

from scalekd.augment import affine, rotate, solarize_add  # the job's ops: one implementation of what timm calls

FILL = (124, 116, 104)
SIZE = 16


def _images():
    g = torch.Generator().manual_seed(7)
    noise = torch.randint(40, 200, (SIZE, SIZE, 3), generator=g)  # a partial range, so autocontrast and equalize act
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    pattern = torch.stack([60 + 4 * xx, 90 + 3 * yy, 120 + xx + yy], -1) + torch.randint(0, 8, (SIZE, SIZE, 3), generator=g)
    return [Image.fromarray(t.clamp(0, 255).to(torch.uint8).numpy(), "RGB") for t in (noise, pattern)]


def _affine(img, matrix):  # timm's shear/translate: Image.transform(AFFINE) with the fill and bilinear resampling
    return affine(img, matrix, FILL)


CASES = {
    "autocontrast": ImageOps.autocontrast,
    "equalize": ImageOps.equalize,
    "invert": ImageOps.invert,
    "posterize_1": lambda im: ImageOps.posterize(im, 1),
    "posterize_3": lambda im: ImageOps.posterize(im, 3),
    "solarize_26": lambda im: ImageOps.solarize(im, 26),
    "solarize_128": lambda im: ImageOps.solarize(im, 128),
    "solarizeadd_99": lambda im: solarize_add(im, 99),
    "color_0p1": lambda im: ImageEnhance.Color(im).enhance(0.1),
    "color_1p9": lambda im: ImageEnhance.Color(im).enhance(1.9),
    "contrast_0p4": lambda im: ImageEnhance.Contrast(im).enhance(0.4),
    "contrast_1p9": lambda im: ImageEnhance.Contrast(im).enhance(1.9),
    "brightness_0p2": lambda im: ImageEnhance.Brightness(im).enhance(0.2),
    "brightness_1p8": lambda im: ImageEnhance.Brightness(im).enhance(1.8),
    "sharpness_0p1": lambda im: ImageEnhance.Sharpness(im).enhance(0.1),
    "sharpness_1p9": lambda im: ImageEnhance.Sharpness(im).enhance(1.9),
    "rotate_27": lambda im: rotate(im, 27, FILL),
    "rotate_m13p5": lambda im: rotate(im, -13.5, FILL),
    "shearx_0p27": lambda im: _affine(im, (1, 0.27, 0, 0, 1, 0)),
    "sheary_m0p27": lambda im: _affine(im, (1, 0, 0, -0.27, 1, 0)),
    "translatexrel_0p405": lambda im: _affine(im, (1, 0, 0.405 * im.size[0], 0, 1, 0)),
    "translateyrel_m0p2": lambda im: _affine(im, (1, 0, 0, 0, 1, -0.2 * im.size[1])),
    # torchvision's resized_crop on a PIL image: crop (top 1, left 2, height 13, width 11), then resize to 8 × 8 ...
    "resizedcrop_down": lambda im: im.crop((2, 1, 13, 14)).resize((8, 8), Image.BILINEAR),
    # ... and crop (top 5, left 3, height 6, width 7) enlarged to 16 × 16.
    "resizedcrop_up": lambda im: im.crop((3, 5, 10, 11)).resize((SIZE, SIZE), Image.BILINEAR),
}

GRAY_CASES = {
    "gray_equalize": ImageOps.equalize,
    "gray_autocontrast": ImageOps.autocontrast,
    "gray_contrast_1p9": lambda im: ImageEnhance.Contrast(im).enhance(1.9),
    "gray_rotate_27": lambda im: rotate(im, 27, 117),
}


def _tensor(images):
    arrays = [np.asarray(im, dtype=np.float32) for im in images]
    arrays = [a[..., None] if a.ndim == 2 else a for a in arrays]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous() / 255.0


def cases():
    images = _images()
    gray = [im.convert("L") for im in images]
    tensors = {"input.images": _tensor(images), "input.gray": _tensor(gray)}
    for name, op in CASES.items():
        tensors[f"output.{name}"] = _tensor([op(im) for im in images])
    for name, op in GRAY_CASES.items():
        tensors[f"output.{name}"] = _tensor([op(im) for im in gray])
    yield "aug_pil_ops", tensors
