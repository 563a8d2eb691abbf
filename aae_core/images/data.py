"""Handwritten-digit images: the embedded scikit-learn digits, users' MNIST-format files, and the dataset
the trainer reads.

Sources: ``"digits"`` (scikit-learn's ``load_digits``, 1,797 images of 8x8, shipped with scikit-learn),
IDX files (``*-idx3-ubyte[.gz]`` images with ``*-idx1-ubyte[.gz]`` labels, the format of MNIST and
Fashion-MNIST) and ``.npz`` archives with ``x_<split>`` / ``y_<split>`` arrays (as ``keras.datasets``
writes them). Pixels are scaled to [0, 1] and flattened.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aae_core.exceptions import DataError

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
EMBEDDED = "digits"


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


# -- readers ---------------------------------------------------------------------------------------
def read_idx(path: str | Path) -> np.ndarray:
    """Array stored in an IDX file (LeCun's MNIST format), gzip-compressed or not.

    Header: two zero bytes, a type code (0x08 uint8 ... 0x0E float64), the number of dimensions, then
    one big-endian uint32 per dimension; the data follow.

    Raises
    ------
    DataError
        If the file is missing, the header is malformed or the data size does not match the header.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no IDX file at {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path.name} cannot be read (corrupt or not gzip): {err}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES or raw[3] == 0:
        raise DataError(f"{path.name} is not an IDX file: bad magic number {raw[:4].hex() or '(empty)'}; "
                        "expected 0000 then a type code (08 for uint8) and the number of dimensions")
    ndim, dtype = raw[3], np.dtype(IDX_TYPES[raw[2]])
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path.name}: header announces {ndim} dimensions but the file ends after {len(raw)} bytes")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path.name}: header says shape {dims} ({expected} data bytes) but the file holds "
                        f"{len(raw) - header}; the file is truncated or not what its header says")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def load_idx(images_path: str | Path, labels_path: str | Path | None = None) -> ImageData:
    """Images from an IDX ``(n, height, width)`` file and labels from an IDX ``(n,)`` file.

    ``labels_path`` defaults to the MNIST sibling name (``...-images-idx3-ubyte`` ->
    ``...-labels-idx1-ubyte``) when that file exists; otherwise the data have no labels.
    """
    images = read_idx(images_path)
    if images.ndim != 3:
        raise DataError(f"{Path(images_path).name} holds an array of shape {images.shape}; images need 3 "
                        "dimensions (n, height, width): is this a labels (idx1) file?")
    if labels_path is None:
        sibling = Path(images_path).with_name(Path(images_path).name.replace("images-idx3", "labels-idx1"))
        labels_path = sibling if sibling != Path(images_path) and sibling.is_file() else None
    labels = None if labels_path is None else _check_labels(read_idx(labels_path), len(images), labels_path)
    return ImageData(_to_unit(images), labels, tuple(images.shape[1:]), str(images_path))


def load_npz(path: str | Path, split: str = "train") -> ImageData:
    """Images ``x_<split>`` (n, height, width) and labels ``y_<split>`` (n,) from an ``.npz`` archive."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no .npz file at {path}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataError(f"{path.name} is not a readable .npz archive: {err}") from err
    with archive:
        key = f"x_{split}"
        if key not in archive.files:
            raise DataError(f"{path.name} has no array {key!r}; it holds {sorted(archive.files)}: pick a split "
                            "with x_<split> (e.g. split='test')")
        images = archive[key]
        labels = archive[f"y_{split}"] if f"y_{split}" in archive.files else None
    if images.ndim != 3:
        raise DataError(f"{path.name}[{key}] has shape {images.shape}; expected (n, height, width)")
    labels = None if labels is None else _check_labels(labels, len(images), f"{path.name}[y_{split}]")
    return ImageData(_to_unit(images), labels, tuple(images.shape[1:]), str(path))


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
