"""Tiny image data and configurations: every image test runs in seconds on one CPU thread."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from aae_core.config import TrainConfig
from aae_core.images.training import ImageConfig

torch.set_num_threads(1)


def write_idx(path: Path, array: np.ndarray, type_code: int = 0x08) -> Path:
    """Write ``array`` as an IDX file (gzip when ``path`` ends in .gz)."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(payload)
    return path


def gzip_bomb(path: Path, head: bytes, zeros: int) -> Path:
    """A valid gzip file of ``head`` then ``zeros`` zero bytes (a whole number of MiB), made in a fraction of a
    second whatever its unpacked size: one compressed MiB of zeros, flushed so that it stands alone, repeated."""
    mib, count = 2**20, zeros // 2**20
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate; the gzip header and trailer are written here
    start = deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(bytes(mib)) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    for _ in range(count):
        crc = zlib.crc32(bytes(mib), crc)
    with path.open("wb") as handle:
        handle.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + start)
        for _ in range(count):
            handle.write(block)
        handle.write(deflate.flush() + struct.pack("<II", crc, (len(head) + count * mib) & 0xFFFFFFFF))
    return path


def fake_digits(n: int = 60, size: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images (n, size, size): class c lights row c % size brightly, plus noise; labels 0..9."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 40, (n, size, size)).astype(np.uint8)
    for i, c in enumerate(labels):
        images[i, c % size] = 250
        images[i, :, (c // size) * 3] = 200
    return images, labels


@pytest.fixture
def idx_files(tmp_path) -> tuple[Path, Path]:
    images, labels = fake_digits()
    return (write_idx(tmp_path / "toy-images-idx3-ubyte.gz", images),
            write_idx(tmp_path / "toy-labels-idx1-ubyte.gz", labels.astype(np.uint8)))


def tiny_image_config(**overrides) -> ImageConfig:
    values = dict(data="digits", max_images=120, hidden_dim=32, num_layers=1, discriminator_dims=[16],
                  labelled_batch_size=10)
    return ImageConfig(**{**values, **overrides})


def tiny_train_config(**overrides) -> TrainConfig:
    values = dict(batch_size=50, epochs=1, log_every=1, checkpoint_every=1000, device="cpu", autocast="off", seed=0)
    return TrainConfig(**{**values, **overrides})
