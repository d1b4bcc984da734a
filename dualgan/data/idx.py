r"""Reader for MNIST-format IDX files (for users who have the files; nothing is downloaded).

IDX layout (LeCun et al.): two zero bytes, a type code (0x08 unsigned byte,
0x09 signed byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), the
number of dimensions, then each dimension as a big-endian int32, then the
data in row-major big-endian order. Files ending in ``.gz`` are decompressed.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

__all__ = ["read_idx", "load_idx_images"]

_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path) -> np.ndarray:
    """Read an IDX file into a numpy array of its shape (native byte order).

    Parameters
    ----------
    path : str or os.PathLike
        Location of an IDX file, optionally gzip-compressed (``.gz``).

    Returns
    -------
    numpy.ndarray
        The data, with the shape and element type the file's header declares.

    Raises
    ------
    ValueError
        If the file is missing, not an IDX file, truncated, or of an unknown type code.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"path {str(path)!r} does not exist; pass the location of an IDX file "
                         f"(e.g. train-images-idx3-ubyte or its .gz)")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file: it must start with two zero bytes")
    code, ndim = raw[2], raw[3]
    if code not in _TYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X}; expected one of "
                         f"{[f'0x{c:02X}' for c in _TYPES]}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header ({len(raw)} bytes for {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(f"{path}: expected {expected} data bytes for shape {shape}, found {len(raw) - header}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def load_idx_images(images_path, labels_path=None, dtype=torch.float32):
    """Images (N, 1, H, W) scaled to [0, 1] (uint8 files are divided by 255), and labels when given.

    Parameters
    ----------
    images_path : str or os.PathLike
        IDX image file with three dimensions ``(N, H, W)`` (e.g. MNIST's ``train-images-idx3-ubyte``).
    labels_path : str or os.PathLike or None, default None
        Matching IDX label file with ``N`` entries, or ``None``.
    dtype : torch.dtype, default torch.float32
        dtype of the images.

    Returns
    -------
    torch.Tensor or tuple of torch.Tensor
        Images ``(N, 1, H, W)`` in [0, 1]; with ``labels_path``, also int64 labels ``(N,)``.

    Raises
    ------
    ValueError
        If a file is malformed, the label count differs from the image count or
        ``dtype`` is not a floating dtype.
    """
    from .._checks import check_float_dtype

    dtype = check_float_dtype(dtype)
    images = read_idx(images_path)
    if images.ndim != 3:
        raise ValueError(f"{images_path}: image files must have 3 dimensions (N, H, W), got shape {images.shape}")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    x = torch.as_tensor(images.astype(np.float64) / scale, dtype=dtype)[:, None]
    if labels_path is None:
        return x
    labels = read_idx(labels_path)
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{labels_path}: expected {images.shape[0]} labels in one dimension, got shape {labels.shape}")
    return x, torch.as_tensor(labels.astype(np.int64))
