"""The latent map: latent codes of training and generated molecules, their 2-D projection with the prior
drawn under them, how well the codes fill the prior, the user's molecule with its nearest neighbours, and
selections on the map.

The map's molecules and, for the shipped default model, their codes ship in ``assets/latent_map/`` (made by
``assets/make_latent_map.py``), so that the first map of a new server takes seconds: encoding 10,000 molecules
takes 25-50 s on one CPU thread.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from aae_core import latent
from aae_core.exceptions import TokenizerError
from aae_core.molecules.data import SHIPPED, clean_molecules, read_table
from aae_core.molecules.generation import LatentIndex, MoleculeGenerator
from aae_core.molecules.latent_quality import two_sample_auc
from aae_core.registry import LoadedModel
from dashboard.services.models import cache_key
from dashboard.services.sampling import DECODE_WORKERS

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "latent_map"
MAP_SIZES = (2_000, 5_000, 10_000, 20_000)  # training molecules on the latent map
NONLINEAR_MAX_POINTS = 2_000  # UMAP and t-SNE are fitted on at most this many training molecules
PRIOR_POINTS = 1_000  # prior samples drawn on the map (and used for non-exact prior densities)
GENERATED_POINTS = 500  # generated molecules encoded back onto the map
FIT_POINTS = 1_000  # training codes set against the prior samples in the prior-fit numbers
UMAP_WARM_UP_DELAY_S = 10.0  # from the first map to compiling UMAP in the background (umap_warm_up)


@st.cache_data(show_spinner=False)
def map_sample() -> pd.DataFrame:
    """A fixed random sample (seed 0) of the shipped train cut, ``max(MAP_SIZES)`` rows, column ``smiles``;
    its first n rows are the map's n-molecule sample. Read from ``assets/latent_map/molecules.csv.gz`` (drawn
    from the train cut, if that file is missing)."""
    try:
        return pd.read_csv(ASSETS / "molecules.csv.gz", usecols=["smiles"])
    except OSError:
        frame, column = read_table(SHIPPED["moses-train"])
        return frame[[column]].rename(columns={column: "smiles"}).sample(max(MAP_SIZES), random_state=0).reset_index(
            drop=True)


@st.cache_resource(show_spinner=False, max_entries=16)
def shipped_codes(path: str, modified: float) -> np.ndarray | None:
    """The shipped codes of the first map molecules for the checkpoint at ``path`` (an ``assets/latent_map/
    codes_*.npz`` made from a file with the same SHA-256), (m, latent_dim) float32, read-only; ``None`` if none
    was shipped for it."""
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
    for file in sorted(ASSETS.glob("codes_*.npz")):
        with np.load(file, allow_pickle=False) as archive:
            if json.loads(archive["meta"].tobytes())["checkpoint_sha256"] == digest:
                codes = archive["codes"].astype(np.float32)
                codes.flags.writeable = False
                return codes
    return None


@st.cache_data(show_spinner=False, max_entries=16, persist="disk")
def training_codes(path: str, modified: float, n: int, _loaded: LoadedModel) -> tuple[pd.DataFrame, np.ndarray]:
    """The first ``n`` map-sample molecules that the model can read (column ``smiles``) and their latent
    codes (m, latent_dim) float32, m <= n: the :func:`shipped_codes` where the model has them, the rest
    encoded. Cached per model path and modification time, also on disk (encoding 10,000 molecules with the
    shipped model takes 25-50 s on one CPU thread)."""
    sample = map_sample().iloc[:n]
    shipped = shipped_codes(path, modified)
    if shipped is None:
        return _encode_readable(_loaded, sample)
    known = min(n, len(shipped))
    rest, rest_codes = _encode_readable(_loaded, sample.iloc[known:])
    return pd.concat([sample.iloc[:known], rest]), np.vstack([shipped[:known], rest_codes])


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


@st.cache_data(show_spinner=False, max_entries=32)
def prior_fit(codes: np.ndarray, prior: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How well ``codes`` (n, d) fill the prior, measured against ``prior`` samples (m, d), n, m >= 50, with a
    second, independent prior sample ``reference`` (m, d) for scale.

    Returns ``auc``, ``auc_logistic``, ``auc_knn`` (the classifier two-sample test,
    :func:`aae_core.molecules.latent_quality.two_sample_auc`: 0.5 when a classifier cannot tell codes from prior
    samples, 1.0 when it always can), ``mmd2`` (:func:`aae_core.latent.rbf_mmd2` of codes and prior samples,
    bandwidth the median distance between the prior samples, as in ``latent_quality``), ``mmd2_floor`` (the same
    between ``reference`` and the prior samples: what a perfect match scatters around) and ``n``.
    """
    codes_t, prior_t = torch.from_numpy(np.asarray(codes, np.float32)), torch.from_numpy(np.asarray(prior, np.float32))
    bandwidth = latent.median_distance(prior_t)
    auc = two_sample_auc(codes_t, prior_t)
    return {"auc": auc["prior_auc"], "auc_logistic": auc["prior_auc_logistic"], "auc_knn": auc["prior_auc_knn"],
            "mmd2": latent.rbf_mmd2(codes_t, prior_t, bandwidth),
            "mmd2_floor": latent.rbf_mmd2(torch.from_numpy(np.asarray(reference, np.float32)), prior_t, bandwidth),
            "n": float(len(codes))}


def prior_fit_text(fit: dict[str, float]) -> str:
    """What the ROC AUC of :func:`prior_fit` says, in one plain sentence."""
    auc = fit["auc"]
    if auc <= 0.6:
        return (f"A classifier can hardly tell these codes from prior samples (AUC {auc:.2f}; 0.5 would mean not at "
                "all): the codes fill the prior.")
    if auc <= 0.8:
        return (f"A classifier tells these codes from prior samples part of the time (AUC {auc:.2f}; 0.5 would mean "
                "never, the codes filling the prior): they cover it unevenly.")
    return (f"A classifier tells these codes from prior samples almost every time (AUC {auc:.2f}; 0.5 would mean "
            "never, the codes filling the prior): they sit in different places.")


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
    prior_fit : :func:`prior_fit` of the first :data:`FIT_POINTS` training codes and the map's prior samples.
    """

    points: pd.DataFrame
    projection: latent.Projection
    overlay: latent.PriorOverlay
    neighbours: pd.DataFrame
    prior_fit: dict[str, float] = field(default_factory=dict)


@st.cache_resource(show_spinner=False, max_entries=16)
def _fitted_view(path: str, modified: float, n: int, method: str, _codes: np.ndarray) -> latent.Projection:
    return latent.project(_codes, method)


@st.cache_data(show_spinner=False, max_entries=16)
def _joint_view(path: str, modified: float, method: str, codes: np.ndarray, extra: np.ndarray) -> latent.Projection:
    return latent.project(codes, method, extra=extra)


def latent_map(loaded: LoadedModel, n: int, method: str, generated: bool, prior: bool,
               yours: np.ndarray | None = None, k: int = 5) -> LatentMap:
    """Project ``n`` training codes (at most :data:`NONLINEAR_MAX_POINTS` for UMAP and t-SNE), optionally
    :data:`GENERATED_POINTS` re-encoded generated molecules and :data:`PRIOR_POINTS` prior samples, and
    ``yours`` (m, latent_dim) with the ``k`` training molecules nearest to its first row; compute the prior
    overlay and the :func:`prior_fit`. UMAP and t-SNE embed every layer jointly, the prior samples always (their
    positions estimate the prior's density), so ticking ``prior`` only shows them.

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
    generator = MoleculeGenerator(loaded)
    prior_codes = generator.sample_prior(PRIOR_POINTS, seed=0).numpy()
    layers.append(("prior", [""] * len(prior_codes), prior_codes))
    if yours is not None and len(yours):
        layers.append(("yours", [""] * len(yours), yours))
    extra = np.vstack([codes for _, _, codes in layers[1:]])
    if method in ("umap", "tsne"):
        view = _joint_view(*key, method, train_codes, extra)
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
    fit = prior_fit(train_codes[:FIT_POINTS], prior_codes, generator.sample_prior(PRIOR_POINTS, seed=1).numpy())
    return LatentMap(points, view, overlay, neighbours, fit)


def prior_on_top(figure: go.Figure, prior: str, molecules: tuple[str, ...]) -> go.Figure:
    """Move the trace named ``prior`` just above the last trace named in ``molecules`` (WebGL draws traces in
    order), so that 1,000 prior samples are not hidden under 10,000 codes while the user's molecule and the
    rings stay above them. Returns ``figure``; unchanged without such traces."""
    traces = list(figure.data)
    layer = [t for t in traces if t.name == prior]
    below = [i for i, t in enumerate(traces) if t.name in molecules]
    if not layer or not below:
        return figure
    rest = [t for t in traces if t.name != prior]
    cut = max(i for i, t in enumerate(rest) if t.name in molecules) + 1
    figure.data = tuple(rest[:cut] + layer + rest[cut:])
    return figure


@st.cache_resource(show_spinner=False)
def umap_warm_up() -> threading.Thread:
    """Compile UMAP (:func:`aae_core.latent.warm_up_umap`, about 25 s of one core) in a background thread, once
    per server process, :data:`UMAP_WARM_UP_DELAY_S` after it is started; the Latent map page starts it once its
    first map is drawn, so that a later UMAP view takes seconds. Until the thread ends, a UMAP view asked for
    compiles UMAP itself (numba compiles each function once, whichever thread asks first)."""
    thread = threading.Thread(target=_warm_up_umap, args=(UMAP_WARM_UP_DELAY_S,), name="aae-lab-umap", daemon=True)
    thread.start()
    return thread


def _warm_up_umap(delay: float) -> None:
    time.sleep(delay)  # not during the first clicks on the map: the compilation holds the GIL most of the time
    latent.warm_up_umap()


def selected_rows(event, points: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``points`` picked by a box or lasso selection on the map (the chart's ``on_select`` event);
    the map puts each molecule point's row label in its ``customdata``."""
    picked = [p["customdata"] for p in (event.selection.points if event else []) if "customdata" in p]
    labels = {int(c[0] if isinstance(c, list | tuple) else c) for c in picked}
    return points[points.index.isin(labels)]
