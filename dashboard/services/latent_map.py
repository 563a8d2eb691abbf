"""The latent map: latent codes of training and generated molecules, their 2-D projection with the prior
drawn under them, the user's molecule with its nearest neighbours, and selections on the map."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from aae_core import latent
from aae_core.exceptions import TokenizerError
from aae_core.molecules.data import SHIPPED, clean_molecules, read_table
from aae_core.molecules.generation import LatentIndex, MoleculeGenerator
from aae_core.registry import LoadedModel
from dashboard.services.models import cache_key
from dashboard.services.sampling import DECODE_WORKERS

MAP_SIZES = (2_000, 5_000, 10_000, 20_000)  # training molecules on the latent map
NONLINEAR_MAX_POINTS = 2_000  # UMAP and t-SNE are fitted on at most this many training molecules
PRIOR_POINTS = 1_000  # prior samples drawn on the map (and used for non-exact prior densities)
GENERATED_POINTS = 500  # generated molecules encoded back onto the map


@st.cache_data(show_spinner=False)
def map_sample() -> pd.DataFrame:
    """A fixed random sample (seed 0) of the shipped train cut, ``max(MAP_SIZES)`` rows, column ``smiles``;
    its first n rows are the map's n-molecule sample."""
    frame, column = read_table(SHIPPED["moses-train"])
    return frame[[column]].rename(columns={column: "smiles"}).sample(max(MAP_SIZES), random_state=0).reset_index(
        drop=True)


@st.cache_data(show_spinner=False, max_entries=16, persist="disk")
def training_codes(path: str, modified: float, n: int, _loaded: LoadedModel) -> tuple[pd.DataFrame, np.ndarray]:
    """The first ``n`` map-sample molecules that the model can read (column ``smiles``) and their latent
    codes (m, latent_dim), m <= n. Cached per model path and modification time, also on disk (encoding
    10,000 molecules with the shipped model takes 25-50 s on one CPU thread)."""
    return _encode_readable(_loaded, map_sample().iloc[:n])


@st.cache_data(show_spinner=False, max_entries=16)
def generated_codes(path: str, modified: float, n: int, _loaded: LoadedModel) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` prior samples (seed 0) decoded; the valid, readable ones (column ``smiles``) and their codes
    after encoding them again (m, latent_dim)."""
    samples, valid = MoleculeGenerator(_loaded).sample_marked(n, seed=0, workers=DECODE_WORKERS)
    smiles = [s for s, ok in zip(samples, valid, strict=True) if ok]
    return _encode_readable(_loaded, pd.DataFrame({"smiles": smiles}))


def _encode_readable(loaded: LoadedModel, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Codes of the molecules of ``frame`` (column ``smiles``); those the model's tokenizer cannot read
    (unknown tokens, too long) are dropped first, which needs the slower validating loader."""
    generator = MoleculeGenerator(loaded)
    if frame.empty:
        return frame, np.zeros((0, loaded.config.latent_dim), np.float32)
    try:
        return frame, generator.encode(frame["smiles"].tolist()).numpy()
    except TokenizerError:
        kept = clean_molecules(frame, "smiles", "map sample", tokenizer=loaded.tokenizer,
                               max_len=loaded.config.max_len).frame
        return kept, generator.encode(kept["smiles"].tolist()).numpy()


@dataclass
class LatentMap:
    """Everything drawn on the latent map.

    Attributes
    ----------
    points : one row per point: ``x``, ``y``, ``kind`` (``training``, ``generated``, ``prior``, ``yours``),
        ``smiles`` (empty for prior samples).
    projection : the fitted view (axis labels, method).
    overlay : the prior drawn in the view.
    neighbours : the training molecules nearest (in latent space) to the user's first molecule: ``smiles``,
        ``distance`` (Euclidean, in latent units), ``x``, ``y``; empty without a molecule.
    """

    points: pd.DataFrame
    projection: latent.Projection
    overlay: latent.PriorOverlay
    neighbours: pd.DataFrame


@st.cache_resource(show_spinner=False, max_entries=16)
def _fitted_view(path: str, modified: float, n: int, method: str, _codes: np.ndarray) -> latent.Projection:
    return latent.project(_codes, method)


@st.cache_data(show_spinner=False, max_entries=8)
def _tsne_view(path: str, modified: float, codes: np.ndarray, extra: np.ndarray) -> latent.Projection:
    return latent.project(codes, "tsne", extra=extra)


def latent_map(loaded: LoadedModel, n: int, method: str, generated: bool, prior: bool,
               yours: np.ndarray | None = None, k: int = 5) -> LatentMap:
    """Project ``n`` training codes (at most :data:`NONLINEAR_MAX_POINTS` for UMAP and t-SNE), optionally
    :data:`GENERATED_POINTS` re-encoded generated molecules and :data:`PRIOR_POINTS` prior samples, and
    ``yours`` (m, latent_dim) with the ``k`` training molecules nearest to its first row; compute the prior
    overlay.

    Raises
    ------
    ValueError
        If ``method`` does not apply to the model's latent dimension.
    """
    key = cache_key(loaded)
    n = min(n, NONLINEAR_MAX_POINTS) if method in ("umap", "tsne") else n
    train, train_codes = training_codes(*key, n, loaded)
    layers = [("training", train["smiles"].tolist(), train_codes)]
    if generated:
        gen, gen_codes = generated_codes(*key, GENERATED_POINTS, loaded)
        layers.append(("generated", gen["smiles"].tolist(), gen_codes))
    prior_codes = MoleculeGenerator(loaded).sample_prior(PRIOR_POINTS, seed=0).numpy()
    layers.append(("prior", [""] * len(prior_codes), prior_codes))
    if yours is not None and len(yours):
        layers.append(("yours", [""] * len(yours), yours))
    extra = np.vstack([codes for _, _, codes in layers[1:]])
    if method == "tsne":
        view = _tsne_view(*key, train_codes, extra)
        extra_xy = view.extra
    else:
        view = _fitted_view(*key, n, method, train_codes)
        extra_xy = view.transform(extra)
    xy = np.vstack([view.coords, extra_xy])
    kinds = np.concatenate([[kind] * len(codes) for kind, _, codes in layers])
    smiles = [s for _, names, _ in layers for s in names]
    points = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "kind": kinds, "smiles": smiles})
    overlay = latent.prior_overlay(loaded.model.prior, view, xy[kinds == "prior"])
    if not prior:  # row labels stay those of the full table, so selections survive toggling this layer
        points = points[points["kind"] != "prior"]
    neighbours = pd.DataFrame(columns=["smiles", "distance", "x", "y"])
    if yours is not None and len(yours):
        near = LatentIndex(train["smiles"], train_codes).query(yours[0], k)
        neighbours = near[["smiles", "distance"]].assign(x=view.coords[near["row"], 0], y=view.coords[near["row"], 1])
    return LatentMap(points, view, overlay, neighbours)


def selected_rows(event, points: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``points`` picked by a box or lasso selection on the map (the chart's ``on_select`` event);
    the map puts each molecule point's row label in its ``customdata``."""
    picked = [p["customdata"] for p in (event.selection.points if event else []) if "customdata" in p]
    labels = {int(c[0] if isinstance(c, list | tuple) else c) for c in picked}
    return points[points.index.isin(labels)]
