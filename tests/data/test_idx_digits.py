"""IDX reader on files written here with struct (independent of the reader); bundled digits."""
import gzip
import struct

import numpy as np
import pytest
import torch

from dualgan.data import digits_split, load_digits, load_idx_images, read_idx


def _write_idx(path, array, code, fmt):
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    body = b"".join(struct.pack(f">{fmt}", v) for v in array.ravel().tolist())
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(header + body)


@pytest.mark.parametrize("code, fmt, dtype", [(0x08, "B", np.uint8), (0x09, "b", np.int8), (0x0B, "h", np.int16),
                                              (0x0C, "i", np.int32), (0x0D, "f", np.float32),
                                              (0x0E, "d", np.float64)])
def test_read_idx_every_type(tmp_path, rng, code, fmt, dtype):
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        arr = rng.integers(info.min, info.max, size=(3, 4, 2), endpoint=True).astype(dtype)
    else:
        arr = rng.normal(size=(3, 4, 2)).astype(dtype)
    _write_idx(tmp_path / "a.idx", arr, code, fmt)
    out = read_idx(tmp_path / "a.idx")
    assert out.shape == (3, 4, 2) and out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, arr)


def test_mnist_style_images_and_labels_gz(tmp_path, rng):
    imgs = rng.integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, size=5).astype(np.uint8)
    _write_idx(tmp_path / "img.gz", imgs, 0x08, "B")
    _write_idx(tmp_path / "lab.gz", labels, 0x08, "B")
    x, y = load_idx_images(tmp_path / "img.gz", tmp_path / "lab.gz")
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    np.testing.assert_allclose(x[:, 0].numpy(), imgs / 255.0, rtol=1e-6)
    assert y.tolist() == labels.tolist()


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x00\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match="two zero bytes"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
    with pytest.raises(ValueError, match="expected 5 data bytes"):
        read_idx(tmp_path / "short")
    (tmp_path / "code").write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01a")
    with pytest.raises(ValueError, match="type code"):
        read_idx(tmp_path / "code")
    with pytest.raises(ValueError, match="does not exist"):
        read_idx(tmp_path / "missing")


def test_digits_match_sklearn():
    from sklearn.datasets import load_digits as sk

    bunch = sk()
    x, y = load_digits(dtype=torch.float64)
    assert x.shape == (1797, 1, 8, 8)
    np.testing.assert_array_equal(x[:, 0].numpy() * 16.0, bunch.images)
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    np.testing.assert_array_equal(y.numpy(), bunch.target)


def test_digits_split_is_stratified_disjoint_and_seeded():
    a, b = digits_split(seed=3), digits_split(seed=3)
    assert torch.equal(a.test_images, b.test_images)
    assert a.train_images.shape[0] + a.test_images.shape[0] == 1797
    counts = torch.bincount(a.test_labels, minlength=10).double() / a.test_labels.shape[0]
    full = torch.bincount(load_digits()[1], minlength=10).double() / 1797
    assert float((counts - full).abs().max()) < 0.01
    with pytest.raises(ValueError, match="test_fraction"):
        digits_split(test_fraction=1.5)
