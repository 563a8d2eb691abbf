"""Handwritten-digit images: the embedded scikit-learn digits, users' MNIST-format files, and the dataset
the trainer reads.

Sources: ``"digits"`` (scikit-learn's ``load_digits``, 1,797 images of 8x8, shipped with scikit-learn),
IDX files (``*-idx3-ubyte[.gz]`` images with ``*-idx1-ubyte[.gz]`` labels, the format of MNIST and
Fashion-MNIST) and ``.npz`` archives with ``x_<split>`` / ``y_<split>`` arrays (as ``keras.datasets``
writes them). Pixels are scaled to [0, 1] and flattened.
"""

from __future__ import annotations

import gzip
import math
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.lib.format as npy
import torch

from aae_core.exceptions import DataError

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
EMBEDDED = "digits"
#: Largest image file, and largest array one may hold or unpack to, in bytes (MNIST's 47 MB train-images fit;
#: the same limit as a molecule file's, aae_core.molecules.data.MAX_FILE_BYTES).
MAX_FILE_BYTES = 200 * 2**20


@dataclass
class ImageData:
    """Images with optional labels.

    Attributes
    ----------
    images : (n, height * width) float32 in [0, 1].
    labels : (n,) int64 class ids, or None when the source has no labels.
    shape : (height, width) of one image.
    source : where the images came from (name or path).
    """

    images: np.ndarray
    labels: np.ndarray | None
    shape: tuple[int, int]
    source: str

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: np.ndarray) -> ImageData:
        """The rows ``indices`` (n,) int."""
        labels = None if self.labels is None else self.labels[indices]
        return ImageData(self.images[indices], labels, self.shape, self.source)

    def require_labels(self, why: str) -> np.ndarray:
        """The labels; raises :class:`DataError` naming ``why`` they are needed when there are none."""
        if self.labels is None:
            raise DataError(f"{self.source} has no labels, but {why} needs them: pass a labels file "
                            "(IDX *-idx1-ubyte) or an .npz with y_<split>")
        return self.labels


# -- readers: bounded before any array is made ------------------------------------------------------
def read_idx(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> np.ndarray:
    """Array stored in an IDX file (LeCun's MNIST format), gzip-compressed or not.

    Header: two zero bytes, a type code (0x08 uint8 ... 0x0E float64), the number of dimensions, then
    one big-endian uint32 per dimension; the data follow. The file on disk, the array its header declares and
    what it decompresses to must each fit in ``max_bytes``: the header is checked before the data are read, and
    no more than the declared data are ever decompressed.

    Raises
    ------
    DataError
        If the file is missing, over ``max_bytes`` on disk, declares an array over ``max_bytes``, the header is
        malformed, or the data size does not match the header; the message names the file (and the limit).
    """
    path = _bounded_file(path, "IDX", max_bytes)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            head = handle.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in IDX_TYPES or head[3] == 0:
                raise DataError(f"{path.name} is not an IDX file: bad magic number {head.hex() or '(empty)'}; "
                                "expected 0000 then a type code (08 for uint8) and the number of dimensions")
            ndim, dtype = head[3], np.dtype(IDX_TYPES[head[2]])
            shape = handle.read(4 * ndim)
            if len(shape) < 4 * ndim:
                raise DataError(f"{path.name}: header announces {ndim} dimensions but the file ends after "
                                f"{4 + len(shape)} bytes")
            dims = struct.unpack(f">{ndim}I", shape)
            expected = math.prod(dims) * dtype.itemsize
            _check_declared(path.name, dims, expected, max_bytes)
            raw = handle.read(expected + 1)  # one byte more tells a file longer than its header says
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path.name} cannot be read (corrupt or not gzip): {err}") from err
    if len(raw) != expected:
        held = f"{len(raw)}" if len(raw) < expected else "more"
        raise DataError(f"{path.name}: header says shape {dims} ({expected} data bytes) but the file holds "
                        f"{held}; the file is truncated or not what its header says")
    return np.frombuffer(raw, dtype=dtype).reshape(dims)


def _bounded_file(path: str | Path, kind: str, max_bytes: int) -> Path:
    """``path`` as a Path, once it is known to be a file of at most ``max_bytes`` bytes on disk."""
    path = Path(path)
    try:
        size = path.stat().st_size if path.is_file() else None
    except OSError as err:  # e.g. a name too long to be a path
        raise DataError(f"cannot read {str(path)[:200]!r}: {err.strerror}") from err
    if size is None:
        raise DataError(f"no {kind} file at {path}")
    if size > max_bytes:
        raise DataError(f"{path.name} is {size / 2**20:,.0f} MiB, over the limit of {_mib(max_bytes)} a file")
    return path


def _check_declared(name: str, shape: tuple[int, ...], nbytes: int, max_bytes: int) -> None:
    """Refuse an array whose declared ``shape`` takes ``nbytes`` over ``max_bytes``, before it is read."""
    if nbytes > max_bytes:
        raise DataError(f"{name} declares an array of shape {tuple(shape)} ({nbytes / 2**20:,.0f} MiB), over "
                        f"the limit of {_mib(max_bytes)} an array: give a smaller file or fewer images")


def _mib(max_bytes: int) -> str:
    return f"{max_bytes / 2**20:,.0f} MiB"


def load_idx(images_path: str | Path, labels_path: str | Path | None = None) -> ImageData:
    """Images from an IDX ``(n, height, width)`` file and labels from an IDX ``(n,)`` file.

    ``labels_path`` defaults to the MNIST sibling name (``...-images-idx3-ubyte`` ->
    ``...-labels-idx1-ubyte``) when that file exists; otherwise the data have no labels.
    """
    images = read_idx(images_path)
    _check_images(images, Path(images_path).name, "images need 3 dimensions (n, height, width): is this a labels "
                  "(idx1) file?")
    if labels_path is None:
        sibling = Path(images_path).with_name(Path(images_path).name.replace("images-idx3", "labels-idx1"))
        labels_path = sibling if sibling != Path(images_path) and sibling.is_file() else None
    labels = None if labels_path is None else _check_labels(read_idx(labels_path), len(images), labels_path)
    return ImageData(_to_unit(images), labels, tuple(images.shape[1:]), str(images_path))


def load_npz(path: str | Path, split: str = "train", max_bytes: int = MAX_FILE_BYTES) -> ImageData:
    """Images ``x_<split>`` (n, height, width) and labels ``y_<split>`` (n,) from an ``.npz`` archive.

    The archive on disk, each array it is asked for (as its ``.npy`` header declares it) and what that array
    decompresses to must each fit in ``max_bytes``, checked before the array is read.

    Raises
    ------
    DataError
        If the file is missing, not an archive, over a limit (the message names it), lacks ``x_<split>``, or
        holds arrays of the wrong shape.
    """
    path = _bounded_file(path, ".npz", max_bytes)
    key = f"x_{split}"
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name.removesuffix(".npy"): name for name in archive.namelist()}
            if key not in members:
                raise DataError(f"{path.name} has no array {key!r}; it holds {sorted(members)}: pick a split "
                                "with x_<split> (e.g. split='test')")
            images = _read_npy(archive, members[key], path.name, max_bytes)
            label_key = f"y_{split}"
            labels = _read_npy(archive, members[label_key], path.name, max_bytes) if label_key in members else None
    except DataError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError) as err:
        # RuntimeError: an encrypted member; NotImplementedError: a compression method zipfile cannot read
        raise DataError(f"{path.name} is not a readable .npz archive: {err}") from err
    _check_images(images, f"{path.name}[{key}]", "expected (n, height, width)")
    labels = None if labels is None else _check_labels(labels, len(images), f"{path.name}[y_{split}]")
    return ImageData(_to_unit(images), labels, tuple(images.shape[1:]), str(path))


def _read_npy(archive: zipfile.ZipFile, member: str, name: str, max_bytes: int) -> np.ndarray:
    """The array ``member`` of an open ``.npz`` archive, once its unpacked size (as the archive lists it) and
    the size its ``.npy`` header declares are known to fit in ``max_bytes``; no pickles."""
    where = f"{name}[{member.removesuffix('.npy')}]"
    unpacked = archive.getinfo(member).file_size
    if unpacked > max_bytes:
        raise DataError(f"{where} unpacks to {unpacked / 2**20:,.0f} MiB, over the limit of {_mib(max_bytes)} "
                        "an array: give a smaller file or fewer images")
    with archive.open(member) as handle:
        version = npy.read_magic(handle)
        read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _, dtype = read_header(handle)
        if dtype.kind not in "buif":
            raise DataError(f"{where} holds {dtype} values; images and labels are numbers")
        _check_declared(where, shape, math.prod(shape) * dtype.itemsize, max_bytes)
    with archive.open(member) as handle:  # the header read again by numpy, the data bounded by the checks above
        return npy.read_array(handle, allow_pickle=False)


def load_embedded_digits() -> ImageData:
    """scikit-learn's ``load_digits``: 1,797 8x8 images (pixel values 0..16 scaled to [0, 1]), labels 0..9."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return ImageData((digits.data / 16.0).astype(np.float32), digits.target.astype(np.int64), (8, 8), EMBEDDED)


def load_images(source: str | Path = EMBEDDED, labels: str | Path | None = None, split: str = "train",
                max_images: int | None = None) -> ImageData:
    """Load ``"digits"`` (embedded), an ``.npz`` archive or an IDX images file; keep the first ``max_images``.

    Raises
    ------
    DataError
        For a missing or malformed file, mismatched labels, or an unknown format.
    """
    name = str(source)
    if name == EMBEDDED:
        data = load_embedded_digits()
    elif name.endswith(".npz"):
        data = load_npz(name, split)
    elif "idx" in Path(name).name or name.endswith("-ubyte"):
        data = load_idx(name, labels)
    else:
        raise DataError(f"unknown image source {name!r}: use 'digits', an .npz archive or an IDX file "
                        "(*-idx3-ubyte[.gz])")
    if max_images is not None:
        data = data.subset(np.arange(min(max_images, len(data))))
    if len(data) == 0:
        raise DataError(f"{name} holds no images")
    return data


def _check_images(images: np.ndarray, where: str, expected: str) -> None:
    if images.ndim != 3:
        raise DataError(f"{where} holds an array of shape {images.shape}; {expected}")
    if images.size == 0:
        raise DataError(f"{where} holds no images: its shape is {images.shape}")


def _check_labels(labels: np.ndarray, n_images: int, where) -> np.ndarray:
    if labels.ndim != 1 or len(labels) != n_images:
        raise DataError(f"{Path(str(where)).name}: {labels.shape} labels for {n_images} images; "
                        "expected one label per image")
    if labels.size and (labels.min() < 0 or not np.issubdtype(labels.dtype, np.integer)):
        raise DataError(f"{Path(str(where)).name}: labels must be non-negative integers")
    return labels.astype(np.int64)


def _to_unit(images: np.ndarray) -> np.ndarray:
    """(n, h, w) uint8 0..255 or float in [0, 1] -> (n, h * w) float32 in [0, 1]."""
    flat = images.reshape(len(images), -1).astype(np.float32)
    if images.dtype == np.uint8:
        return flat / 255.0
    if flat.size and (flat.min() < 0 or flat.max() > 1):
        raise DataError(f"float images must lie in [0, 1], found [{flat.min():.3g}, {flat.max():.3g}]")
    return flat


# -- splits ----------------------------------------------------------------------------------------
def stratified_split(labels: np.ndarray, test_size: float | int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, held_out) of a stratified split (``sklearn.model_selection.train_test_split``)."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(labels))
    try:
        train, held = train_test_split(rows, test_size=test_size, stratify=labels, random_state=seed)
    except ValueError as err:
        raise DataError(f"cannot hold out {test_size} of {len(labels)} images stratified by label: {err}") from err
    return train, held


def choose_labelled(labels: np.ndarray, num_labels: int, seed: int = 0) -> np.ndarray:
    """Indices of ``num_labels`` rows, the same number from each class (drawn with
    ``numpy.random.default_rng(seed)``, class by class in increasing order), sorted by class."""
    classes = np.unique(labels)
    per_class, rest = divmod(num_labels, len(classes))
    if rest or per_class < 1:
        raise DataError(f"num_labels={num_labels} must be a positive multiple of the {len(classes)} classes")
    rng = np.random.default_rng(seed)
    chosen = []
    for c in classes:
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise DataError(f"class {c} has {len(members)} images, fewer than the {per_class} labels asked for")
        chosen.append(rng.choice(members, per_class, replace=False))
    return np.concatenate(chosen)


# -- dataset for the trainer -----------------------------------------------------------------------
class ImageDataset:
    """Rows for :class:`~aae_core.training.Trainer`.

    Parameters
    ----------
    images : (n, pixels) float32 in [0, 1].
    labels : (n,) int64, -1 for unlabelled rows; None when no row is labelled.
    labelled_batch_size : when > 0, every batch also carries ``x_labelled`` / ``y_labelled``: that many
        labelled rows drawn with replacement (torch's global generator, so a resumed run draws the
        same), the labelled minibatch of the semi-supervised phase (Makhzani et al. 2015, Sec. 5).
    neighbours : (n, m) int row indices, e.g. from :func:`neighbour_table`; when given, every batch also
        carries ``x_pair``: for each row, the row at one of its m entries, drawn uniformly (torch's global
        generator), the partner of the consistency phase.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray | None = None, labelled_batch_size: int = 0,
                 neighbours: np.ndarray | None = None):
        self.images = torch.as_tensor(images, dtype=torch.float32)
        self.labels = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
        self.labelled = (torch.zeros(0, dtype=torch.long) if self.labels is None
                         else torch.nonzero(self.labels >= 0).squeeze(1))
        if labelled_batch_size and not len(self.labelled):
            raise DataError("a labelled minibatch was asked for, but no image is labelled")
        self.labelled_batch_size = labelled_batch_size
        self.neighbours = None if neighbours is None else torch.as_tensor(neighbours, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"x": (b, pixels) float, "y": (b,) long (-1 unlabelled; only with labels),
        "x_labelled": (m, pixels), "y_labelled": (m,), "x_pair": (b, pixels)}`` (``x_labelled`` and
        ``y_labelled`` only with a labelled batch size, ``x_pair`` only with ``neighbours``)."""
        out = {"x": self.images[indices]}
        if self.labels is not None:
            out["y"] = self.labels[indices]
        if self.labelled_batch_size:
            rows = self.labelled[torch.randint(len(self.labelled), (self.labelled_batch_size,))]
            out["x_labelled"], out["y_labelled"] = self.images[rows], self.labels[rows]
        if self.neighbours is not None:
            candidates = self.neighbours[indices]
            pick = torch.randint(candidates.shape[1], (len(candidates),))
            out["x_pair"] = self.images[candidates[torch.arange(len(candidates)), pick]]
        return out


def neighbour_table(images: np.ndarray, k: int) -> np.ndarray:
    """Each row of ``images`` (n, pixels) itself and its ``k`` nearest other rows by cosine distance between pixel
    vectors, (n, k + 1) int64, column 0 the row itself (scikit-learn's ``NearestNeighbors``, exact search).

    Raises
    ------
    DataError
        If there are not more than ``k`` images.
    """
    from sklearn.neighbors import NearestNeighbors

    if len(images) <= k:
        raise DataError(f"{k} nearest neighbours need more than {k} images, got {len(images)}")
    others = NearestNeighbors(n_neighbors=k, metric="cosine").fit(images).kneighbors(return_distance=False)
    return np.hstack([np.arange(len(images))[:, None], others]).astype(np.int64)
