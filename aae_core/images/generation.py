"""Use a trained image model: latent codes, reconstructions, the decoder manifold, the style grid, mosaics.

Figures of Makhzani et al. 2015: the latent map coloured by digit (Fig. 2, 4), the decoder manifold over
a 2-D latent grid (Fig. 2e), the style grid - fixed style rows decoded with each label (Fig. 7, 9).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aae_core.exceptions import DataError
from aae_core.images.semisupervised import CategoricalAAE


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(images), dtype=torch.float32)


@torch.no_grad()
def latent_codes(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Codes z of ``images`` (n, pixels) -> (n, latent_dim) float32; the style z for categorical models."""
    model.eval()
    batch = {"x": _tensor(images)}
    z = model.split(batch)[1] if isinstance(model, CategoricalAAE) else model.encode(batch)
    return z.float().numpy()


def is_conditional(model: nn.Module) -> bool:
    """Whether the decoder also reads a label (supervised, semi-supervised, clustering)."""
    return isinstance(model, CategoricalAAE) or getattr(model.decoder, "num_classes", 0) > 0


def num_labels(model: nn.Module) -> int:
    """Labels (or clusters) a conditional decoder reads."""
    return model.num_classes if isinstance(model, CategoricalAAE) else model.decoder.num_classes


@torch.no_grad()
def decode(model: nn.Module, z: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor | None = None) -> np.ndarray:
    """Decoded images (n, pixels) in [0, 1] of codes ``z`` (n, latent_dim) and, for conditional models,
    labels ``y`` (n,) int.

    Raises
    ------
    DataError
        If ``z`` has the wrong width, or a conditional model gets no labels.
    """
    model.eval()
    z = _tensor(z)
    width = model.prior.dim
    if z.ndim != 2 or z.shape[1] != width:
        raise DataError(f"codes must have shape (n, {width}), got {tuple(z.shape)}")
    if not is_conditional(model):
        return model.decoder.decode(z).numpy()
    if y is None:
        raise DataError("this model's decoder reads a label too: pass one label per code")
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    if isinstance(model, CategoricalAAE):
        return model.decoder.decode(torch.cat([F.one_hot(y, model.num_classes).float(), z], dim=1)).numpy()
    return model.decoder.decode(z, y).numpy()


@torch.no_grad()
def reconstruct(model: nn.Module, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """x -> z -> x for ``images`` (n, pixels); supervised models also need the true ``labels``."""
    model.eval()
    batch = {"x": _tensor(images)}
    if isinstance(model, CategoricalAAE):
        return model.decoder.decode(model.encode(batch)).numpy()
    return decode(model, model.encode(batch), labels if is_conditional(model) else None)


def latent_grid(model: nn.Module, n: int = 15, quantile: float = 0.02, seed: int = 0) -> np.ndarray:
    """(n * n, 2) grid over the central ``1 - 2 * quantile`` of the prior in each axis, row-major from the top
    (rows: descending z1, columns: ascending z0). Raises :class:`DataError` unless the code is 2-D."""
    if model.prior.dim != 2:
        raise DataError(f"the decoder manifold needs a 2-D code; this model's code has {model.prior.dim} dims")
    samples = model.prior.sample(20_000, torch.Generator().manual_seed(seed)).numpy()
    low, high = np.quantile(samples, [quantile, 1 - quantile], axis=0)
    xs, ys = np.linspace(low[0], high[0], n), np.linspace(high[1], low[1], n)
    return np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2).astype(np.float32)


def manifold(model: nn.Module, n: int = 15, label: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decoder manifold: the grid (n * n, 2) and its decoded images (n * n, pixels); conditional models
    decode every point with ``label``."""
    grid = latent_grid(model, n)
    y = None if label is None else np.full(len(grid), label)
    return grid, decode(model, grid, y)


def style_grid(model: nn.Module, z: np.ndarray) -> np.ndarray:
    """Each style code of ``z`` (rows, latent_dim) decoded with every label -> (rows, labels, pixels)."""
    if not is_conditional(model):
        raise DataError("a style grid needs a label-conditioned decoder (supervised, semi-supervised, clustering)")
    k = num_labels(model)
    z = np.asarray(z, dtype=np.float32)
    images = decode(model, np.repeat(z, k, axis=0), np.tile(np.arange(k), len(z)))
    return images.reshape(len(z), k, -1)


def mosaic(images: np.ndarray, shape: tuple[int, int], cols: int, pad: int = 1) -> np.ndarray:
    """Tile ``images`` (n, h * w) into one (rows * (h + pad) - pad, cols * (w + pad) - pad) array, row-major."""
    h, w = shape
    rows = -(-len(images) // cols)
    sheet = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad), dtype=np.float32)
    for i, image in enumerate(np.asarray(images)):
        r, c = divmod(i, cols)
        sheet[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = image.reshape(h, w)
    return sheet
