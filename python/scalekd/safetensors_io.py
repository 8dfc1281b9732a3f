"""Minimal safetensors writer/reader (the format: u64 header length, JSON header, raw little-endian data).

Debian 12 has no python3-safetensors, and the format is small enough to write here.
"""
import json
import os
import struct

import torch

_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.float64: "F64", torch.int64: "I64", torch.int32: "I32",
           torch.bfloat16: "BF16", torch.uint8: "U8"}
_TORCH = {v: k for k, v in _DTYPES.items()}


def save(path, tensors):
    """Writes a dict name -> tensor; keys are stored sorted so files are reproducible."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        # numpy has no bfloat16: its bytes travel as int16.
        data = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    # Through a temporary file and a rename, so that a process killed mid-write leaves the old file or the new one.
    temp = f"{path}.{os.getpid()}.tmp"
    with open(temp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)


class SafetensorsError(ValueError):
    """The file is not a complete safetensors file; the message names it."""


def load(path):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
        body = memoryview(raw)[8 + n:]
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            start, end = info["data_offsets"]
            if end > len(body):
                raise ValueError(f"'{name}' ends at byte {end} of the data, which holds {len(body)}")
            dtype = _TORCH[info["dtype"]]
            out[name] = torch.frombuffer(bytearray(body[start:end]), dtype=dtype).reshape(info["shape"]).clone()
        return out
    except (struct.error, ValueError, KeyError, TypeError, RuntimeError) as e:  # a cut-short or damaged file
        raise SafetensorsError(f"{path} is not a complete safetensors file ({type(e).__name__}: {e}); "
                               f"copy or export it again") from e
