"""Latent-space tools: 2-D views of latent codes, the prior drawn in that view, and divergences between
1-D distributions (why adversarial autoencoders match distributions the way they do).

Projections
-----------
:func:`project` maps codes (n, latent_dim) to a plane (n, 2):

- ``raw``: the codes themselves, only when ``latent_dim == 2``;
- ``pca``: principal component analysis (scikit-learn), linear; new points are placed with
  :meth:`Projection.transform`;
- ``umap``: UMAP (McInnes et al. 2018, umap-learn), non-linear;
- ``tsne``: t-SNE (van der Maaten & Hinton 2008), non-linear.

The two non-linear views embed the codes and every point to show with them (``extra=``: prior samples, the
user's molecule) jointly, in one fit: a point placed afterwards into a fitted UMAP lands where its neighbours
among the fitted points are, so prior samples unlike every code would still be drawn among the codes, or in an
island whose distance to them means nothing. Fitted together, an island of prior samples says that codes and
prior samples sit in different places (measure it: ``aae_core.molecules.latent_quality.two_sample_auc``). UMAP gets the
exact 15 nearest neighbours from scikit-learn (umap-learn computes them with a Python callback per pair below
4,096 points, 20 s for 3,000 points); its numba functions compile on the first fit of a process (about 20 s,
:func:`warm_up_umap`).

The prior in the plane
----------------------
For ``raw`` and ``pca`` the image of a Gaussian (or Gaussian-mixture) prior is exact. PCA maps
``y = W (z - m)`` with ``W`` (2, latent_dim) having orthonormal rows and ``m`` the mean of the fitted
codes. If ``z ~ N(0, sigma^2 I)`` then ``y ~ N(-W m, sigma^2 W W^T) = N(-W m, sigma^2 I_2)``: an isotropic
2-D Gaussian with the same ``sigma``, centred on the projected origin. Each mixture component
``N(mu_i, sigma^2 I)`` likewise becomes ``N(W (mu_i - m), sigma^2 I_2)`` (components that differ only
along directions PCA drops land on top of each other). For a 2-D isotropic Gaussian the circle of radius
``k sigma`` holds ``1 - exp(-k^2 / 2)`` of the mass: 39%, 86% and 99% for k = 1, 2, 3. Non-linear
projections (UMAP, t-SNE) and the uniform prior under PCA have no closed form: their density is estimated
with a Gaussian KDE of projected prior samples.

Divergences
-----------
:func:`divergence_curve` measures KL, Jensen-Shannon and Wasserstein-1 between a distribution P and a copy
Q moved by a shift (Arjovsky et al. 2017, "Wasserstein GAN", Example 1): for narrow or disjoint
distributions KL becomes infinite, JS saturates at ``log 2`` (so its gradient vanishes) while W1 grows
like the shift.

Two-sample distance
-------------------
:func:`rbf_mmd2` is the unbiased squared maximum mean discrepancy with a Gaussian RBF kernel (Gretton et al.
2012), whose bandwidth :func:`median_distance` sets by the median heuristic; :func:`prior_match` measures with it
how far codes are from prior draws.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch

from aae_core.exceptions import DataError
from aae_core.priors import GaussianPrior, MixturePrior, Prior, UniformPrior

METHODS = ("raw", "pca", "umap", "tsne")
METHOD_LABELS = {"raw": "raw latent axes", "pca": "PCA (linear)", "umap": "UMAP (non-linear)",
                 "tsne": "t-SNE (non-linear)"}
RING_SIGMAS = (1, 2, 3)
SHAPES = ("gaussian", "uniform")


# -- projections -----------------------------------------------------------------------------------
def available_methods(latent_dim: int) -> list[str]:
    """Projections that make sense for codes of ``latent_dim``: ``["raw"]`` for 2-D codes, the three
    fitted projections above that, none below (a 1-D latent space has no 2-D view)."""
    if latent_dim < 2:
        return []
    return ["raw"] if latent_dim == 2 else ["pca", "umap", "tsne"]


@dataclass
class Projection:
    """A fitted 2-D view of latent codes.

    Attributes
    ----------
    method : one of :data:`METHODS`.
    coords : (n, 2) positions of the fitted codes.
    extra : (m, 2) positions of the ``extra`` codes passed to :func:`project` (m may be 0).
    axis_labels : names of the two axes, e.g. ``("PC1 (31% of variance)", "PC2 (12% of variance)")``.
    estimator : the fitted scikit-learn ``PCA``; ``None`` for the other views.
    """

    method: str
    coords: np.ndarray
    extra: np.ndarray
    axis_labels: tuple[str, str]
    estimator: Any = field(default=None, repr=False)

    @property
    def linear(self) -> bool:
        """Whether the view is a linear map of the latent space (``raw`` or ``pca``)."""
        return self.method in ("raw", "pca")

    def transform(self, z: np.ndarray | torch.Tensor) -> np.ndarray:
        """Place new codes (m, latent_dim) in the view -> (m, 2).

        Raises
        ------
        ValueError
            For UMAP and t-SNE, which embed every point jointly: pass new points to :func:`project` as ``extra``.
        """
        z = _as_codes(z)
        if self.method == "raw":
            return z[:, :2].copy()
        if not self.linear:
            raise ValueError(f"{METHOD_LABELS[self.method]} cannot place new points in an existing map; pass them to "
                             "project(..., extra=) to embed them jointly with the codes")
        return np.asarray(self.estimator.transform(z), dtype=np.float32)


def project(codes: np.ndarray | torch.Tensor, method: str, extra: np.ndarray | torch.Tensor | None = None,
            seed: int = 0) -> Projection:
    """Fit a 2-D view of ``codes`` (n, latent_dim) and place ``extra`` (m, latent_dim) in it.

    Returns a :class:`Projection` with ``coords`` (n, 2) and ``extra`` (m, 2), float32. PCA is fitted on
    ``codes`` only and ``extra`` is transformed, so the view of ``codes`` does not depend on ``extra``; UMAP and
    t-SNE embed ``codes`` and ``extra`` jointly (see the module docstring). Results are deterministic for a given
    ``seed``.

    Raises
    ------
    ValueError
        If ``method`` does not fit the latent dimension (the choices are named), there are fewer than
        three codes, or ``extra`` has another latent dimension.
    """
    codes = _as_codes(codes)
    extra = _as_codes(extra) if extra is not None else np.zeros((0, codes.shape[1]), np.float32)
    n, dim = codes.shape
    choices = available_methods(dim)
    if method not in choices:
        raise ValueError(f"projection {method!r} does not apply to {dim}-D codes; choose one of {choices}"
                         if choices else "a 1-D latent space has no 2-D view: train a model with latent_dim >= 2")
    if n < 3:
        raise ValueError(f"a 2-D view needs at least 3 codes, got {n}")
    if extra.shape[1] != dim:
        raise ValueError(f"extra codes have dimension {extra.shape[1]}, the codes {dim}")
    if method in ("umap", "tsne"):
        both = (_umap if method == "umap" else _tsne)(np.vstack([codes, extra]), seed)
        labels = ("UMAP 1", "UMAP 2") if method == "umap" else ("t-SNE 1", "t-SNE 2")
        return Projection(method, both[:n], both[n:], labels)
    if method == "raw":
        projection = Projection(method, codes[:, :2].copy(), np.zeros((0, 2), np.float32), ("z₁", "z₂"))
    else:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(codes)
        labels = tuple(f"PC{i + 1} ({r:.0%} of variance)" for i, r in enumerate(pca.explained_variance_ratio_))
        projection = Projection(method, pca.transform(codes).astype(np.float32), np.zeros((0, 2), np.float32),
                                labels, pca)
    if len(extra):
        projection.extra = projection.transform(extra)
    return projection


def _umap(codes: np.ndarray, seed: int, n_epochs: int = 200) -> np.ndarray:
    """UMAP embedding (n, 2) of ``codes`` (n, d), n >= 3, on their exact 15 nearest neighbours (each point is its
    own first neighbour, as in umap-learn)."""
    import umap  # slow to import (numba); only when asked for
    from sklearn.neighbors import NearestNeighbors

    k = min(15, len(codes) - 1)
    distances, indices = NearestNeighbors(n_neighbors=k).fit(codes).kneighbors(codes)
    reducer = umap.UMAP(n_components=2, n_neighbors=k, n_epochs=n_epochs, random_state=seed, n_jobs=1,
                        precomputed_knn=(indices, distances.astype(np.float32), None))
    with warnings.catch_warnings():  # "transform will be unavailable": the views embed every point in one fit
        warnings.filterwarnings("ignore", message="precomputed_knn", category=UserWarning)
        return reducer.fit_transform(codes).astype(np.float32)


def warm_up_umap() -> None:
    """Import umap-learn and compile its numba functions with a small fit (about 20 s on one CPU core, once per
    process), so that the first UMAP view a user asks for takes seconds."""
    _umap(np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32), seed=0, n_epochs=10)


def _tsne(codes: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(codes) - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", max_iter=500, random_state=seed)
    return tsne.fit_transform(codes).astype(np.float32)


def _as_codes(z: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(z, torch.Tensor):
        z = z.detach().cpu().numpy()
    z = np.asarray(z, dtype=np.float32)
    return z.reshape(1, -1) if z.ndim == 1 else z


# -- the prior in the plane ------------------------------------------------------------------------
@dataclass
class PriorOverlay:
    """The prior drawn in a 2-D view.

    Attributes
    ----------
    x : (gx,) and y : (gy,) grid coordinates; density : (gy, gx) prior density on that grid (rows follow
        ``y``), in the units of the view.
    rings : ``(label, points (k, 2))`` closed curves, e.g. ``("2σ (86%)", circle)``; empty when not exact.
    centres : (c, 2) projected centre of each Gaussian (component); (0, 2) when not applicable.
    exact : whether ``density`` is the exact image of the prior (else a KDE of projected samples).
    """

    x: np.ndarray
    y: np.ndarray
    density: np.ndarray
    rings: list[tuple[str, np.ndarray]]
    centres: np.ndarray
    exact: bool


def prior_overlay(prior: Prior, projection: Projection, prior_coords: np.ndarray | None = None,
                  grid_size: int = 100) -> PriorOverlay:
    """Density grid, sigma rings and centres of ``prior`` in the view ``projection``.

    Exact for a Gaussian or mixture prior under a linear view (see the module docstring) and for the
    uniform prior in a raw 2-D view; otherwise a Gaussian KDE of ``prior_coords`` (s, 2), the projected
    prior samples. The grid covers the fitted codes and the prior (3 sigma, or the samples) with a margin.

    Raises
    ------
    ValueError
        If the overlay is not exact and ``prior_coords`` has fewer than 3 points.
    """
    from scipy.stats import gaussian_kde, norm  # scipy.stats takes a second to import: not on every page

    if projection.linear and isinstance(prior, GaussianPrior | MixturePrior):
        means = prior.means.numpy() if isinstance(prior, MixturePrior) else np.zeros((1, prior.dim), np.float32)
        centres = projection.transform(means)
        radius = np.array([prior.sigma * max(RING_SIGMAS)] * 2)
        x, y = _grid([projection.coords, centres - radius, centres + radius], grid_size)
        gx, gy = np.meshgrid(x, y)
        density = np.mean([norm.pdf(gx, cx, prior.sigma) * norm.pdf(gy, cy, prior.sigma) for cx, cy in centres],
                          axis=0)
        return PriorOverlay(x, y, density, _sigma_rings(centres, prior.sigma), centres, exact=True)
    if projection.method == "raw" and isinstance(prior, UniformPrior):
        low, high = prior.low, prior.high
        x, y = _grid([projection.coords, np.array([[low, low], [high, high]])], grid_size)
        gx, gy = np.meshgrid(x, y)
        inside = (gx >= low) & (gx <= high) & (gy >= low) & (gy <= high)
        square = np.array([[low, low], [high, low], [high, high], [low, high], [low, low]])
        return PriorOverlay(x, y, inside / (high - low) ** 2, [("support", square)], np.zeros((0, 2)), exact=True)
    if prior_coords is None or len(prior_coords) < 3:
        raise ValueError(f"the {prior.name} prior has no closed form in a {projection.method} view: "
                         "pass at least 3 projected prior samples as prior_coords")
    x, y = _grid([projection.coords, prior_coords], grid_size)
    gx, gy = np.meshgrid(x, y)
    density = gaussian_kde(np.asarray(prior_coords, dtype=np.float64).T)(np.vstack([gx.ravel(), gy.ravel()]))
    return PriorOverlay(x, y, density.reshape(gx.shape), [], np.zeros((0, 2)), exact=False)


def _grid(point_sets: list[np.ndarray], size: int, margin: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    points = np.vstack([np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in point_sets])
    low, high = points.min(axis=0), points.max(axis=0)
    pad = margin * np.maximum(high - low, 1e-6)
    return np.linspace(low[0] - pad[0], high[0] + pad[0], size), np.linspace(low[1] - pad[1], high[1] + pad[1], size)


def _sigma_rings(centres: np.ndarray, sigma: float, points: int = 100) -> list[tuple[str, np.ndarray]]:
    angle = np.linspace(0, 2 * np.pi, points)
    circle = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    rings = []
    for k in RING_SIGMAS:
        mass = 1 - np.exp(-k * k / 2)
        label = f"{k}σ ({mass:.0%})"
        rings += [(label, centre + k * sigma * circle) for centre in centres]
    return rings


# -- divergences between 1-D distributions ---------------------------------------------------------
def shifted_pair(shape: str, width: float, shift: float, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Densities on the grid ``x`` (g,) of P, centred on 0 with ``width`` (a Gaussian's sigma or a uniform's
    full width), and of Q, the same distribution moved by ``shift``; each (g,).

    Raises
    ------
    ValueError
        For an unknown shape (choices named) or a width that is not positive.
    """
    from scipy.stats import norm

    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose one of {list(SHAPES)}")
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width}")
    if shape == "gaussian":
        return norm.pdf(x, 0.0, width), norm.pdf(x, shift, width)
    return (np.abs(x) <= width / 2) / width, (np.abs(x - shift) <= width / 2) / width


def divergences(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> dict[str, float]:
    """KL(P || Q), Jensen-Shannon divergence and Wasserstein-1 distance of two densities on a uniform
    grid ``x`` (g,), in nats and units of ``x``.

    KL is ``inf`` when P has mass where Q has none; JS lies in ``[0, log 2]``.
    """
    from scipy.spatial.distance import jensenshannon
    from scipy.special import rel_entr
    from scipy.stats import wasserstein_distance

    pm, qm = p / p.sum(), q / q.sum()
    return {
        "KL": float(rel_entr(pm, qm).sum()),
        "JS": float(jensenshannon(pm, qm) ** 2),  # scipy returns the JS distance, the divergence's square root
        "W1": float(wasserstein_distance(x, x, pm, qm)),
    }


def divergence_grid(width: float, max_shift: float, points: int = 4001) -> np.ndarray:
    """A grid (points,) wide enough for P and every Q up to ``max_shift`` (5 widths of margin)."""
    reach = abs(max_shift) + 5 * width
    return np.linspace(-reach, reach, points)


def divergence_curve(shape: str, width: float, shifts: np.ndarray, x: np.ndarray | None = None) -> pd.DataFrame:
    """KL, JS and W1 between P and P moved by each of ``shifts`` (s,).

    Returns
    -------
    DataFrame with s rows and columns ``shift``, ``KL``, ``JS``, ``W1`` and their slopes with respect to
    the shift ``dKL``, ``dJS``, ``dW1`` (finite differences; the gradient a generator would get).
    """
    shifts = np.asarray(shifts, dtype=np.float64)
    x = divergence_grid(width, np.abs(shifts).max()) if x is None else x
    rows = [divergences(*shifted_pair(shape, width, s, x), x) for s in shifts]
    frame = pd.DataFrame(rows).assign(shift=shifts)[["shift", "KL", "JS", "W1"]]
    with np.errstate(invalid="ignore"):
        for name in ("KL", "JS", "W1"):
            frame[f"d{name}"] = np.gradient(frame[name].to_numpy(), shifts) if len(shifts) > 1 else np.nan
    return frame


def rbf_mmd2(x: torch.Tensor, y: torch.Tensor, bandwidth: float) -> float:
    """Unbiased squared MMD between samples ``x`` (n, d) and ``y`` (m, d), n, m >= 2, with the kernel
    ``k(a, b) = exp(-||a - b||^2 / (2 bandwidth^2))`` (Gretton et al. 2012, Eq. 3, MMD^2_u).

    Near 0 (possibly slightly negative) when both come from one distribution; at most 2.
    """
    def mean_kernel(a: torch.Tensor, b: torch.Tensor, same: bool) -> torch.Tensor:
        k = torch.exp(-torch.cdist(a, b).pow(2) / (2 * bandwidth**2))
        if same:
            return (k.sum() - k.diagonal().sum()) / (len(a) * (len(a) - 1))
        return k.mean()

    x, y = x.double(), y.double()
    return float(mean_kernel(x, x, True) + mean_kernel(y, y, True) - 2 * mean_kernel(x, y, False))


def median_distance(x: torch.Tensor) -> float:
    """Median pairwise Euclidean distance of the rows of ``x`` (n, d), the median heuristic for the
    RBF bandwidth (Gretton et al. 2012, Sec. 8)."""
    distances = torch.pdist(x.double())
    return float(distances.median()) if len(distances) else 1.0


def prior_match(prior: Prior, codes: np.ndarray | torch.Tensor, seed: int = 0) -> dict[str, float]:
    """How closely ``codes`` (n, dim) follow ``prior``, the target of the AAE's regularisation phase (the
    aggregated posterior q(z) should match p(z); Makhzani et al. 2015, Sec. 2).

    Returns ``mmd2``: :func:`rbf_mmd2` between the n codes and n prior draws; ``floor``: the same between two
    independent sets of n prior draws, the value a perfect match scatters around; ``bandwidth``: the RBF bandwidth,
    the median distance between prior draws. Draws are seeded by ``seed``. Raises DataError for fewer than 2 codes.
    """
    if len(codes) < 2:
        raise DataError(f"need the codes of at least 2 images to compare with the prior, got {len(codes)}")
    generator = torch.Generator().manual_seed(seed)
    draws, other = prior.sample(len(codes), generator), prior.sample(len(codes), generator)
    bandwidth = median_distance(draws)
    return {"mmd2": rbf_mmd2(torch.as_tensor(codes), draws, bandwidth), "floor": rbf_mmd2(other, draws, bandwidth),
            "bandwidth": bandwidth}
