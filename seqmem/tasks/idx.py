"""A reader for IDX files (the format of MNIST and Fashion-MNIST), gzipped or not, into tensors.

An IDX file is a header and raw big-endian data: two zero bytes, a type code, the number of dimensions
`d`, then `d` sizes as big-endian uint32 (16 bytes of header for N images of 28x28; 8 for N labels). We
read it ourselves so the image tasks need nothing beyond torch and NumPy, and we refuse any file whose
header and length disagree, so a truncated download is an error, not a silently shorter data set.
"""

from __future__ import annotations

import gzip
import io
import math
import zlib
from pathlib import Path

import numpy as np
import torch

from seqmem.errors import ConfigError
from seqmem.run.atomic import atomic_write

TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801  # unsigned bytes, 3 and 1 dimensions
MAX_BYTES = 2**30  # 1 GiB: over 20 times the largest file of MNIST and Fashion-MNIST


class IdxError(ConfigError):
    """A file that is not a well-formed IDX file of the expected kind."""


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, gunzipped if it starts with the gzip magic (whatever its name says), refused where
    they would be more than any IDX data set holds (a gzip that expands to gigabytes)."""
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read(MAX_BYTES + 1)
    if raw[:2] != b"\x1f\x8b":
        return raw if len(raw) <= MAX_BYTES else too_large(path)
    try:
        data = gzip.GzipFile(fileobj=io.BytesIO(raw)).read(MAX_BYTES + 1)
    except (EOFError, OSError, zlib.error) as e:
        raise IdxError(f"{path}: corrupt or truncated gzip data ({e}); download the file again") from None
    return data if len(data) <= MAX_BYTES else too_large(path)


def too_large(path: Path):
    raise IdxError(f"{path}: holds more than {MAX_BYTES} bytes of data, more than any IDX data set seqmem reads "
                   "(MNIST's largest file is 47 MB): give the right file")


def read_idx(path: str | Path) -> torch.Tensor:
    """Any IDX file as a tensor of its own shape (uint8 data stays uint8)."""
    return parse_idx(read_bytes(path), Path(path))


def parse_idx(data: bytes, path: Path) -> torch.Tensor:
    """The tensor held by the bytes of an IDX file; `path` only names it in errors."""
    if len(data) < 4:
        raise IdxError(f"{path}: {len(data)} bytes, too short for an IDX header")
    zero, code, ndim = data[0:2], data[2], data[3]
    if zero != b"\x00\x00" or code not in TYPES or ndim == 0:
        raise IdxError(f"{path}: bad magic number 0x{data[:4].hex()}: not an IDX file")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{path}: truncated header ({len(data)} of {header} bytes)")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(TYPES[code])
    expected = math.prod(shape) * dtype.itemsize  # exact: sizes of 2**32 - 1 would overflow an int64 product
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "longer than its header says"
        raise IdxError(f"{path}: {what}: header {shape} needs {expected} bytes of data, found {found}")
    array = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return torch.from_numpy(array.astype(dtype.newbyteorder("="), copy=True))


def read_images(path: str | Path) -> torch.Tensor:
    """An IDX image file: uint8 tensor `(N, rows, cols)`."""
    return read_kind(path, IMAGES_MAGIC, "images (magic 0x00000803: unsigned bytes, 3 dimensions)")


def read_labels(path: str | Path) -> torch.Tensor:
    """An IDX label file: uint8 tensor `(N,)`."""
    return read_kind(path, LABELS_MAGIC, "labels (magic 0x00000801: unsigned bytes, 1 dimension)")


def read_kind(path: str | Path, magic: int, what: str) -> torch.Tensor:
    path = Path(path)
    data = read_bytes(path)
    found = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if found != magic:
        shown = "none (file shorter than 4 bytes)" if found is None else f"0x{found:08x}"
        raise IdxError(f"{path}: bad magic number {shown}; expected {what}")
    return parse_idx(data, path)


def read_pair(images_path: str | Path, labels_path: str | Path, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Images `(N, rows, cols)` and labels `(N,)` that belong together: same count, labels below `classes`."""
    images, labels = read_images(images_path), read_labels(labels_path)
    if len(images) != len(labels):
        raise IdxError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    if len(labels) and int(labels.max()) >= classes:
        raise IdxError(f"{labels_path}: label {int(labels.max())} is not one of the {classes} classes")
    return images, labels


def write_idx(path: str | Path, tensor: torch.Tensor, compress: bool | None = None) -> Path:
    """Write a uint8 tensor as an IDX file (gzipped if `compress`, or if the name ends in .gz), atomically.

    For small data sets made by hand: subsets of a real one, or test fixtures.
    """
    path = Path(path)
    array = tensor.detach().cpu().numpy()
    if array.dtype != np.uint8 or array.ndim == 0:
        raise IdxError(f"write_idx writes uint8 tensors of at least one dimension, got {array.dtype} {array.shape}")
    data = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes() + array.tobytes()
    if path.name.endswith(".gz") if compress is None else compress:
        data = gzip.compress(data, mtime=0)
    atomic_write(path, lambda f: f.write(data))
    return path
