"""IDX / npz / embedded loaders on good and bad self-made files, splits, the trainer dataset."""

from __future__ import annotations

import gzip
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from aae_core.exceptions import DataError
from aae_core.images.data import (
    MAX_FILE_BYTES,
    ImageDataset,
    choose_labelled,
    load_images,
    load_npz,
    neighbour_table,
    read_idx,
    stratified_split,
)
from aae_core.images.training import MNIST_HELD_OUT, ImageConfig, images_to_show
from tests.images.conftest import fake_digits, gzip_bomb, write_idx


def test_idx_round_trip_gz_and_plain(tmp_path):
    images, labels = fake_digits(20)
    for suffix in ("", ".gz"):
        path = write_idx(tmp_path / f"a-images-idx3-ubyte{suffix}", images)
        np.testing.assert_array_equal(read_idx(path), images)
    wide = np.arange(12, dtype=np.int32).reshape(3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "w-idx2-int", wide, 0x0C)), wide)


def test_load_idx_finds_mnist_sibling_labels(idx_files):
    data = load_images(idx_files[0])
    assert data.images.shape == (60, 36) and data.images.dtype == np.float32
    assert data.images.min() >= 0 and data.images.max() <= 1
    np.testing.assert_array_equal(data.labels, np.arange(60) % 10)
    assert data.shape == (6, 6)


def test_load_idx_without_labels_then_needing_them(tmp_path):
    images, _ = fake_digits(10)
    data = load_images(write_idx(tmp_path / "solo-images-idx3-ubyte", images))
    assert data.labels is None
    with pytest.raises(DataError, match="has no labels.*labels file"):
        data.require_labels("the supervised model")


@pytest.mark.parametrize(("payload", "message"), [
    (b"", "bad magic number"),
    (b"\x01\x00\x08\x03" + b"\x00" * 12, "bad magic number"),
    (b"\x00\x00\x08\x03\x00\x00", "file ends after"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05abc", "truncated"),
])
def test_bad_idx_headers(tmp_path, payload, message):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=message):
        read_idx(path)


def test_not_gzip_and_missing_files(tmp_path):
    fake = tmp_path / "x-images-idx3-ubyte.gz"
    fake.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="cannot be read"):
        read_idx(fake)
    with pytest.raises(DataError, match="no IDX file"):
        read_idx(tmp_path / "absent-idx3-ubyte")


# -- hostile files: refused with the file and the limit named, before an array is made ----------------------
def idx_header(*dims: int, type_code: int = 0x08) -> bytes:
    return bytes([0, 0, type_code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def test_a_gzip_bomb_is_refused_by_the_array_its_header_declares(tmp_path):
    """230 MiB of zeros in 240 KB, with an honest header: refused after reading 16 bytes."""
    bomb = gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", idx_header(294_000, 28, 28), 230 * 2**20)
    assert bomb.stat().st_size < 2**20
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz declares an array of shape \(294000, 28, 28\) "
                                        r"\(220 MiB\), over the limit of 200 MiB an array"):
        load_images(bomb)


def test_a_gzip_bomb_behind_a_small_header_is_refused_without_unpacking_it(tmp_path):
    bomb = gzip_bomb(tmp_path / "liar-images-idx3-ubyte.gz", idx_header(1, 28, 28), 230 * 2**20)
    with pytest.raises(DataError, match=r"liar-images-idx3-ubyte.gz: header says shape \(1, 28, 28\) \(784 data "
                                        r"bytes\) but the file holds more"):
        read_idx(bomb)


def test_a_huge_declared_idx_shape_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge-images-idx3-ubyte"
    path.write_bytes(idx_header(4_000_000_000, 60_000, 60_000, type_code=0x0E) + bytes(64))
    with pytest.raises(DataError, match=r"huge-images-idx3-ubyte declares an array of shape \(4000000000, 60000, "
                                        r"60000\) \([\d,]+ MiB\), over the limit of 200 MiB"):
        read_idx(path)


def test_files_over_the_limit_on_disk_are_refused_unread(tmp_path):
    for name in ("big-images-idx3-ubyte", "big.npz"):
        path = tmp_path / name
        with path.open("wb") as handle:  # sparse: 201 MiB that take no disk
            handle.truncate(MAX_FILE_BYTES + 2**20)
        with pytest.raises(DataError, match=f"{name} is 201 MiB, over the limit of 200 MiB a file"):
            load_images(path)


def test_an_npz_declaring_a_giant_array_is_refused_before_reading(tmp_path):
    path = tmp_path / "giant.npz"
    header = b"{'descr': '|u1', 'fortran_order': False, 'shape': (100000, 1000, 1000), }"
    with zipfile.ZipFile(path, "w") as archive:  # a 100 GB array in a 200-byte member
        archive.writestr("x_train.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header) + 1) + header + b"\n"
                         + bytes(16))
    with pytest.raises(DataError, match=r"giant.npz\[x_train\] declares an array of shape \(100000, 1000, 1000\) "
                                        r"\(95,367 MiB\), over the limit of 200 MiB an array"):
        load_npz(path)


def test_an_npz_bomb_is_refused_by_its_unpacked_size(tmp_path):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, x_train=np.zeros((3, 1024, 1024), np.uint8))  # 3 MiB of zeros in 3 KB
    assert path.stat().st_size < 2**16
    with pytest.raises(DataError, match=r"bomb.npz\[x_train\] unpacks to 3 MiB, over the limit of 2 MiB an array"):
        load_npz(path, max_bytes=2 * 2**20)
    assert load_npz(path, max_bytes=4 * 2**20).images.shape == (3, 2**20)


def test_an_npz_of_objects_is_refused_unpickled(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x_train=np.array([[[{"a": 1}]]], dtype=object))
    with pytest.raises(DataError, match=r"objects.npz\[x_train\] holds object values; images and labels are numbers"):
        load_npz(path)


def test_an_npz_with_an_encrypted_member_is_refused(tmp_path):
    path = tmp_path / "locked.npz"
    np.savez(path, x_train=np.zeros((2, 3, 3), np.uint8))
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")
    raw[6] |= 0x1  # the "encrypted" flag, in the member's local header and in the central directory
    raw[central + 8] |= 0x1
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="locked.npz is not a readable .npz archive: .*encrypted"):
        load_npz(path)


def test_label_count_mismatch_and_wrong_rank(tmp_path):
    images, labels = fake_digits(10)
    img = write_idx(tmp_path / "m-images-idx3-ubyte", images)
    lab = write_idx(tmp_path / "other-labels-idx1-ubyte", labels[:7].astype(np.uint8))
    with pytest.raises(DataError, match="7,\\) labels for 10 images"):
        load_images(img, labels=lab)
    with pytest.raises(DataError, match="3 dimensions"):
        load_images(lab)


def test_npz_splits_and_errors(tmp_path):
    images, labels = fake_digits(30)
    path = tmp_path / "fashion.npz"
    np.savez(path, x_train=images, y_train=labels, x_test=images[:5])
    assert len(load_npz(path)) == 30 and load_npz(path).labels is not None
    assert load_images(path, split="test").labels is None
    with pytest.raises(DataError, match="no array 'x_valid'.*x_test"):
        load_npz(path, "valid")
    np.savez(path, x_train=images, y_train=labels[:3])
    with pytest.raises(DataError, match="one label per image"):
        load_npz(path)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable"):
        load_npz(tmp_path / "junk.npz")


def test_unknown_source_and_float_range(tmp_path):
    with pytest.raises(DataError, match="unknown image source"):
        load_images(tmp_path / "pictures.png")
    path = tmp_path / "f.npz"
    np.savez(path, x_train=np.full((2, 3, 3), 7.0))
    with pytest.raises(DataError, match=r"lie in \[0, 1\]"):
        load_npz(path)


def test_embedded_digits():
    data = load_images("digits", max_images=50)
    assert data.images.shape == (50, 64) and data.shape == (8, 8) and data.images.max() <= 1


def test_splits_are_stratified_and_seeded():
    labels = np.arange(200) % 10
    train, held = stratified_split(labels, 0.2, seed=0)
    assert len(held) == 40 and np.all(np.bincount(labels[held]) == 4)
    chosen = choose_labelled(labels[train], 30, seed=0)
    assert np.all(np.bincount(labels[train][chosen]) == 3)
    np.testing.assert_array_equal(chosen, choose_labelled(labels[train], 30, seed=0))
    with pytest.raises(DataError, match="multiple of the 10 classes"):
        choose_labelled(labels, 15)


def test_dataset_batches_with_labelled_minibatch():
    labels = np.array([-1, 3, -1, 5])
    dataset = ImageDataset(np.eye(4, dtype=np.float32), labels, labelled_batch_size=6)
    batch = dataset.batch(torch.tensor([0, 2]))
    assert batch["x"].shape == (2, 4) and batch["y"].tolist() == [-1, -1]
    assert set(batch["y_labelled"].tolist()) <= {3, 5} and batch["x_labelled"].shape == (6, 4)
    with pytest.raises(DataError, match="no image is labelled"):
        ImageDataset(np.eye(2, dtype=np.float32), np.array([-1, -1]), labelled_batch_size=2)


def test_neighbour_table_lists_each_row_then_its_nearest_rows():
    """Vectors at 0, 10, 30, 70 and 150 degrees with unequal lengths: by cosine distance (the angle, whatever the
    length) each one's nearest others are known by hand."""
    angles, lengths = np.deg2rad([0, 10, 30, 70, 150]), np.array([1.0, 5.0, 0.3, 2.0, 7.0])
    points = (lengths[:, None] * np.stack([np.cos(angles), np.sin(angles)], 1)).astype(np.float32)
    table = neighbour_table(points, 2)
    assert table.dtype == np.int64 and table.shape == (5, 3)
    np.testing.assert_array_equal(table[:, 0], np.arange(5))
    assert [set(row[1:]) for row in table.tolist()] == [{1, 2}, {0, 2}, {0, 1}, {1, 2}, {2, 3}]
    with pytest.raises(DataError, match="2 nearest neighbours need more than 2 images, got 2"):
        neighbour_table(points[:2], 2)


def test_dataset_pairs_each_row_with_one_of_its_neighbours():
    images = np.eye(4, dtype=np.float32)
    table = np.array([[0, 1], [1, 0], [2, 3], [3, 2]])
    dataset = ImageDataset(images, neighbours=table)
    torch.manual_seed(0)
    seen = {tuple(dataset.batch(torch.tensor([0, 2]))["x_pair"].argmax(1).tolist()) for _ in range(40)}
    assert seen == {(0, 2), (0, 3), (1, 2), (1, 3)}  # row 0 pairs with 0 or 1, row 2 with 2 or 3, all four seen
    assert "x_pair" not in ImageDataset(images).batch(torch.tensor([0]))


def test_gzip_idx_written_by_hand_matches_mnist_layout(tmp_path):
    raw = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([7, 8, 9])
    path = tmp_path / "t-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(raw))
    assert read_idx(path).tolist() == [7, 8, 9]


MNIST_TEST = Path("/work/shared/data/mnist/t10k-images-idx3-ubyte.gz")


def test_images_to_show_substitutes_the_shipped_mnist_images_only_where_they_fit(tmp_path):
    shipped = load_images(MNIST_HELD_OUT, split="heldout")
    assert len(shipped) == 2000 and shipped.shape == (28, 28) and np.bincount(shipped.labels).min() >= 170
    gone = ImageConfig(data=str(tmp_path / "t10k-images-idx3-ubyte.gz"), holdout=2000)
    rows, note = images_to_show(gone, (28, 28))
    assert np.array_equal(rows.images, shipped.images) and "is not on this machine" in note
    with pytest.raises(DataError, match="no IDX file"):
        images_to_show(gone, (8, 8))
    own, note = images_to_show(ImageConfig(data="digits", holdout=0.2), (8, 8))
    assert note is None and len(own) == 360


@pytest.mark.skipif(not MNIST_TEST.is_file(), reason="the MNIST test set is not on this machine")
def test_shipped_mnist_images_are_the_mnist_8k_held_out_split():
    rows, note = images_to_show(ImageConfig(data=str(MNIST_TEST), holdout=2000), (28, 28))
    shipped = load_images(MNIST_HELD_OUT, split="heldout")
    assert note is None and np.array_equal(rows.images, shipped.images) and np.array_equal(rows.labels, shipped.labels)
