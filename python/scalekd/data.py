"""The job's images: read from the data its job.json names (Fashion-MNIST IDX files, or a label<TAB>path manifest of
image files), held in memory as 8-bit pixels, and turned into normalised batches the way ScaleKD.Torch's
Training/Augmentation does: the evaluation geometry (shorter side to size / crop fraction, centre crop), or the
training augmentation in timm's order (random-resized crop, horizontal flip, RandAugment, normalisation, random
erasing; the last two from augment.py when job.json asks for them)."""
import gzip
import hashlib
import math
import os
import struct

import torch
import torch.nn.functional as F
import torch.utils.data

from .augment import RandAugment, erase


class JobDataError(Exception):
    """A data file is missing or malformed; the message names it."""


def _open(path):
    if not os.path.exists(path):
        raise JobDataError(f"{path} is missing")
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def read_idx_images(path):
    with _open(path) as f:
        magic, count, height, width = struct.unpack(">iiii", f.read(16))
        if magic != 0x803:
            raise JobDataError(f"{path}: not an IDX file of unsigned-byte images (magic 0x00000803)")
        data = f.read(count * height * width)
    if len(data) != count * height * width:
        raise JobDataError(f"{path}: {len(data)} bytes of pixels where its header promises {count}x{height}x{width}")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).view(count, 1, height, width)


def read_idx_labels(path):
    with _open(path) as f:
        magic, count = struct.unpack(">ii", f.read(8))
        if magic != 0x801:
            raise JobDataError(f"{path}: not an IDX label file (magic 0x00000801)")
        data = f.read(count)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).long()


def read_manifest(path, class_names, storage_size):
    """label<TAB>path lines (paths relative to the manifest's folder), decoded with PIL as RGB and stored at the
    training storage size (shorter side, then centre crop), as ScaleKD.Torch's data sources store them."""
    try:
        from PIL import Image
    except ImportError as e:
        raise JobDataError(f"{path} lists image files, and reading them needs PIL (Debian: python3-pil)") from e
    base = os.path.dirname(os.path.abspath(path))
    index = {name: i for i, name in enumerate(class_names)}
    images, labels = [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2 or parts[0] not in index:
                raise JobDataError(f"{path} line {number}: expected 'label<TAB>path' with a label among the job's classes")
            file = parts[1] if os.path.isabs(parts[1]) else os.path.join(base, parts[1])
            try:
                with Image.open(file) as img:
                    pixels = torch.frombuffer(bytearray(img.convert("RGB").tobytes()), dtype=torch.uint8)
                    pixels = pixels.view(img.height, img.width, 3).permute(2, 0, 1).unsqueeze(0)
            except (OSError, ValueError) as e:  # missing, unreadable, or not an image PIL decodes
                raise JobDataError(f"{path} line {number}: {file}: {e}") from e
            images.append(resize_and_center_crop(pixels.float() / 255, storage_size, storage_size).mul(255).round().byte())
            labels.append(index[parts[0]])
    if not images:
        raise JobDataError(f"{path} lists no images")
    return torch.cat(images), torch.tensor(labels, dtype=torch.int64)


def load(job_dir, data, class_names):
    """(images uint8 (N, C, H, W), labels int64 (N,)) of the job's training data."""
    if data["kind"] == "idx":
        images = read_idx_images(os.path.join(job_dir, data["images"]))
        labels = read_idx_labels(os.path.join(job_dir, data["labels"]))
        if data.get("indices") is not None:
            indices = torch.tensor(data["indices"], dtype=torch.int64)
            images, labels = images[indices], labels[indices]
        return images, labels
    if data["kind"] == "manifest":
        return read_manifest(os.path.join(job_dir, data["manifest"]), class_names, data["storage_size"])
    raise JobDataError(f"job.json: unknown data kind '{data['kind']}'")


def resize(images, height, width):
    """Bilinear, antialiased when shrinking, as ImageResize.Resize (PIL's semantics)."""
    if images.shape[-2] == height and images.shape[-1] == width:
        return images.clone()
    return F.interpolate(images, size=(height, width), mode="bilinear", align_corners=False, antialias=True)


def center_crop(images, height, width):
    top = round((images.shape[2] - height) / 2)  # Python rounds half to even, as ImageResize.CenterCrop
    left = round((images.shape[3] - width) / 2)
    return images[:, :, top:top + height, left:left + width].contiguous()


def resize_and_center_crop(images, shorter_side, crop):
    h, w = images.shape[2], images.shape[3]
    size = (shorter_side, int(shorter_side * w / h)) if h <= w else (int(shorter_side * h / w), shorter_side)
    return center_crop(resize(images, *size), crop, crop)


def normalize(images, mean, std):
    """Standardises per channel; one-channel images are repeated to the statistics' channels (Normalize.Apply)."""
    channels = len(mean) if images.shape[1] == 1 and len(mean) > 1 else images.shape[1]
    images = images.expand(-1, channels, -1, -1)
    m = torch.tensor(mean, dtype=images.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=images.dtype).view(1, -1, 1, 1)
    return (images - m) / s


class EpochBatches(torch.utils.data.Dataset):
    """One epoch of a process's batches, item i the i-th: its images augmented and its labels. Each batch draws its
    augmentation from a generator seeded by (seed, epoch, rank, i) alone, so a batch is the same whichever worker
    process builds it, however many there are, and after a resume."""

    def __init__(self, images, labels, order, per_rank, transforms, key):
        self.images, self.labels, self.order, self.per_rank = images, labels, order, per_rank
        self.transforms, self.key = transforms, key

    def __len__(self):
        return len(self.order) // self.per_rank

    def __getitem__(self, i):
        batch = self.order[i * self.per_rank:(i + 1) * self.per_rank]
        digest = hashlib.sha256("/".join(map(str, (*self.key, i))).encode()).digest()
        generator = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)
        return self.transforms.train(self.images[batch], generator), self.labels[batch]


class Transforms:
    """The evaluation transform and the training transform of the job's augmentation settings."""

    def __init__(self, augmentation):
        self.a = augmentation
        self.size = augmentation["image_size"]
        self.resize_size = int(math.floor(self.size / augmentation["eval_crop_fraction"]))
        enabled = augmentation["enabled"]
        self.rand_augment = RandAugment(augmentation["rand_augment"]) if enabled and augmentation.get("rand_augment") else None
        self.erasing = augmentation.get("erasing") if enabled else None

    def evaluate(self, images_uint8):
        x = images_uint8.float() / 255
        return normalize(resize_and_center_crop(x, self.resize_size, self.size), self.a["mean"], self.a["std"])

    def train(self, images_uint8, generator):
        """timm's order: random-resized crop, flip, RandAugment, normalisation, random erasing."""
        if not self.a["enabled"]:
            return self.evaluate(images_uint8)
        x = images_uint8.float() / 255
        out = []
        for img in x.split(1):
            img = self._random_resized_crop(img, generator)
            if torch.rand((), generator=generator).item() < self.a["hflip"]:
                img = img.flip(-1)
            if self.rand_augment is not None:
                img = self.rand_augment.tensor(img[0], generator)[None]
            out.append(img)
        x = normalize(torch.cat(out), self.a["mean"], self.a["std"])
        if self.erasing is not None:
            for img in x:
                erase(img, generator, self.erasing)
        return x

    def _random_resized_crop(self, img, g):
        """torchvision's RandomResizedCrop.get_params (10 tries, then the centre crop of the clamped ratio)."""
        h, w = img.shape[2], img.shape[3]
        area = h * w
        lo, hi = self.a["crop_scale"]
        log_ratio = (math.log(self.a["crop_ratio"][0]), math.log(self.a["crop_ratio"][1]))
        for _ in range(10):
            target = area * (lo + (hi - lo) * torch.rand((), generator=g).item())
            ratio = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * torch.rand((), generator=g).item())
            cw, ch = int(round(math.sqrt(target * ratio))), int(round(math.sqrt(target / ratio)))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(torch.randint(0, h - ch + 1, (), generator=g))
                left = int(torch.randint(0, w - cw + 1, (), generator=g))
                return resize(img[:, :, top:top + ch, left:left + cw], self.size, self.size)
        ratio = w / h
        if ratio < self.a["crop_ratio"][0]:
            cw, ch = w, int(round(w / self.a["crop_ratio"][0]))
        elif ratio > self.a["crop_ratio"][1]:
            ch, cw = h, int(round(h * self.a["crop_ratio"][1]))
        else:
            cw, ch = w, h
        return resize(center_crop(img, ch, cw), self.size, self.size)
