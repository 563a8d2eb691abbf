"""What the pages compute, cached: models, latent codes and maps, samples, drawings, exports, metrics.

Shipped models (``checkpoints/*.safetensors``, or ``$AAE_LAB_CHECKPOINTS``) are loaded once per server
process with ``st.cache_resource``, keyed by path and modification time, so a checkpoint rewritten by a
running training is picked up. Models trained in a session live in that session's state only
(:mod:`dashboard.state`). Functions without ``st.cache_*`` are plain and tested without Streamlit.
"""

from __future__ import annotations

import base64
import functools
import importlib
import io
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from rdkit import Chem
from rdkit.Chem import rdDepictor
from rdkit.Chem.Draw import rdMolDraw2D
from rdkit.Chem.Scaffolds import MurckoScaffold
from safetensors import SafetensorError, safe_open

from aae_core import chem, latent
from aae_core.checkpoints import META_KEY
from aae_core.config import ModelConfig, TrainConfig, from_dict
from aae_core.data.molecules import SHIPPED, SMILES_COLUMN_GUESSES, clean_molecules, load_molecules, read_table
from aae_core.exceptions import CheckpointError, DataError, TokenizerError
from aae_core.generation import LatentIndex, MoleculeGenerator
from aae_core.images import LABELLED_MODELS
from aae_core.registry import LoadedModel, load_model
from dashboard import inputs, state
from dashboard.jobs import ImageTrainingJob, TrainingJob

ROOT = Path(__file__).resolve().parents[1]
IMAGE_MODALITIES = ("image", "images")  # checkpoints of these modalities belong to the Digits pages
MAP_SIZES = (2_000, 5_000, 10_000, 20_000)  # training molecules on the latent map
NONLINEAR_MAX_POINTS = 2_000  # UMAP and t-SNE are fitted on at most this many training molecules
PRIOR_POINTS = 1_000  # prior samples drawn on the map (and used for non-exact prior densities)
GENERATED_POINTS = 500  # generated molecules encoded back onto the map
GRID_PAGE = 24  # molecules drawn per page of a molecule grid (bench/bench_browser.py)
#: Sampling decodes this many chunks at once in threads, each op on one intra-op thread (see MoleculeGenerator.decode)
DECODE_WORKERS = len(os.sched_getaffinity(0))
#: Property ranges of the filters; a slider left at an end of its range sets no limit on that side.
PROPERTY_RANGES = {"MW": (0.0, 800.0), "logP": (-5.0, 10.0), "QED": (0.0, 1.0), "SA": (1.0, 10.0)}
LOSS_TERMS = ("reconstruction", "discriminator", "generator", "kl")
METRICS_SAMPLES = 1_000  # molecules sampled per run for the metrics table
METRICS_REFERENCE = 2_000  # MOSES test molecules in the metrics' reference set


# -- models ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelRef:
    """A model the user can pick: ``key`` is unique, ``label`` is shown, ``shipped`` models are shared."""

    key: str
    label: str
    path: str
    shipped: bool


def checkpoint_dir() -> Path:
    """Folder of the shipped checkpoints: ``$AAE_LAB_CHECKPOINTS`` or ``checkpoints/`` of the repository."""
    return Path(os.environ.get("AAE_LAB_CHECKPOINTS", ROOT / "checkpoints"))


def mtime(path: str | Path) -> float:
    """Modification time of ``path``, 0.0 when it is missing (loading then says so)."""
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(show_spinner=False, max_entries=64)
def _header(path: str, modified: float) -> dict:
    """The JSON header of a checkpoint, read without loading its tensors."""
    try:
        with safe_open(path, framework="pt") as handle:
            return json.loads((handle.metadata() or {})[META_KEY])
    except (SafetensorError, OSError, KeyError, ValueError) as err:
        raise CheckpointError(f"{Path(path).name} is not a readable aae-lab checkpoint: {err}") from err


def _checkpoint_headers() -> tuple[list[tuple[Path, dict]], list[str]]:
    """Every checkpoint in :func:`checkpoint_dir` with its header, sorted by name, and a message per unreadable
    file."""
    headers, problems = [], []
    for path in sorted(checkpoint_dir().glob("*.safetensors")):
        try:
            headers.append((path, _header(str(path), mtime(path))))
        except CheckpointError as err:
            problems.append(str(err))
    return headers, problems


def shipped_models() -> tuple[list[ModelRef], list[str]]:
    """Molecule models in :func:`checkpoint_dir` (image models skipped) and a message per unreadable file."""
    headers, problems = _checkpoint_headers()
    refs = [ModelRef(f"shipped:{path.name}", f"{meta.get('card', {}).get('name') or path.stem} (shipped)", str(path),
                     shipped=True)
            for path, meta in headers if meta.get("modality") not in IMAGE_MODALITIES]
    return refs, problems


def digit_models_table() -> pd.DataFrame:
    """The image models of :func:`checkpoint_dir`, one row each, from their headers only: ``model``, ``family``,
    ``data``, ``prior``, ``code dims``, ``labels`` (labelled training images, "all" or "none"), ``metrics`` (the
    card's dict) and ``training time (s)``. Unreadable files are left out (:func:`shipped_models` reports them)."""
    rows = []
    for path, meta in _checkpoint_headers()[0]:
        if meta.get("modality") not in IMAGE_MODALITIES:
            continue
        config, card = meta.get("image_config", {}), meta.get("card", {})
        data = str(config.get("data"))
        labels = str(config.get("num_labels") or "all") if config.get("model") in LABELLED_MODELS else "none"
        rows.append({"model": path.stem, "family": config.get("model"),
                     "data": "8x8 digits" if data == "digits" else Path(data).name,
                     "prior": config.get("prior", {}).get("name"), "code dims": config.get("latent_dim"),
                     "labels": labels, "metrics": card.get("metrics", {}), "training time (s)": card.get("wall_s")})
    return pd.DataFrame(rows, columns=["model", "family", "data", "prior", "code dims", "labels", "metrics",
                                       "training time (s)"])


def session_ref(loaded: LoadedModel) -> ModelRef:
    """The reference of a model trained in this session."""
    return ModelRef(f"session:{loaded.path}", f"{loaded.name} (this session)", str(loaded.path), shipped=False)


def model_choices() -> dict[str, ModelRef]:
    """Every model the user can pick, by key: shipped ones first, then this session's."""
    refs = shipped_models()[0] + [session_ref(m) for m in st.session_state[state.SESSION_MODELS].values()]
    return {ref.key: ref for ref in refs}


@st.cache_resource(show_spinner=False, max_entries=8)
def _load_shipped(path: str, modified: float) -> LoadedModel:
    return load_model(path)


def load(ref: ModelRef) -> LoadedModel:
    """The loaded model behind ``ref``.

    Raises
    ------
    CheckpointError
        If its checkpoint is missing or unreadable.
    """
    if ref.shipped:
        return _load_shipped(ref.path, mtime(ref.path))
    models = st.session_state[state.SESSION_MODELS]
    if ref.key not in models:
        raise CheckpointError(f"{ref.label} is no longer in this session: pick another model")
    return models[ref.key]


def collect_trained_model() -> ModelRef | None:
    """Add the session's finished training run to its models (once) and select it; returns its reference,
    or ``None`` when there is nothing new."""
    job = st.session_state[state.TRAINING]
    if job is None or job.collected or not job.has_model:
        return None
    job.collected = True
    try:
        loaded = load_model(job.path)
    except CheckpointError as err:
        job.error = f"its checkpoint could not be read back: {err}"
        return None
    ref = session_ref(loaded)
    st.session_state[state.SESSION_MODELS][ref.key] = loaded
    st.session_state[state.MODEL] = ref.key
    return ref


def cache_key(loaded: LoadedModel) -> tuple[str, float]:
    """(path, modification time): identifies a model's weights in the data caches."""
    return str(loaded.path), mtime(loaded.path)


# -- data ------------------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def training_set() -> frozenset[str]:
    """SMILES of the shipped MOSES train cut, for novelty (the file's SMILES are RDKit-canonical: 1 in 2,000
    differs under the current RDKit, so novelty may be overestimated by about 0.05%)."""
    frame, column = read_table(SHIPPED["moses-train"])
    return frozenset(frame[column])


@st.cache_resource(show_spinner=False)
def preload() -> threading.Thread:
    """Load the novelty set and the SA score's fragment table in the background once per server process, so
    that the first Sample click does not wait for them (:func:`training_set` callers block until it is
    loaded)."""
    thread = threading.Thread(target=_warm_up, name="aae-lab-preload", daemon=True)
    thread.start()
    return thread


def _warm_up() -> None:
    training_set()
    chem.properties(chem.mol_from_smiles("CCO"))  # the SA score reads its fragment table on first use


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


PROPERTY_COLUMNS = (*chem.PROPERTY_NAMES, "lipinski")


@functools.lru_cache(maxsize=50_000)
def molecule_properties(smiles: str) -> tuple[float, ...]:
    """QED, logP, SA, MW and ``lipinski`` (rule-of-five violations) of one SMILES, in
    :data:`PROPERTY_COLUMNS` order; all NaN when it does not parse. Cached per string (QED alone costs
    about 3 ms a molecule here, so a batch computes each molecule's properties once, when first needed)."""
    mol = chem.mol_from_smiles(smiles)
    if mol is None:
        return (np.nan,) * len(PROPERTY_COLUMNS)
    values = chem.properties(mol)
    return (*(values[name] for name in chem.PROPERTY_NAMES), float(chem.lipinski_violations(mol)))


def properties_table(smiles: tuple[str, ...]) -> pd.DataFrame:
    """:data:`PROPERTY_COLUMNS` of each SMILES (NaN where invalid), one row per input."""
    return pd.DataFrame([molecule_properties(s) for s in smiles], columns=list(PROPERTY_COLUMNS),
                        index=range(len(smiles)))


def with_properties(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (with a ``smiles`` column) plus its :data:`PROPERTY_COLUMNS` (replaced if present)."""
    table = properties_table(tuple(frame["smiles"])).set_index(frame.index)
    return frame.drop(columns=list(PROPERTY_COLUMNS), errors="ignore").join(table)


# -- latent map ------------------------------------------------------------------------------------
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


# -- sampling and filtering ------------------------------------------------------------------------
@dataclass
class Batch:
    """A sampled batch: ``frame`` has one row per sample (``smiles``, ``valid``, ``unique``, ``novel``, the
    properties, ``lipinski`` violations) and ``settings`` says how it was made."""

    frame: pd.DataFrame
    settings: dict


def describe(smiles: list[str], known: frozenset[str], valid: Sequence[bool] | None = None) -> pd.DataFrame:
    """One row per SMILES: ``valid`` (parsed here unless given, e.g. by
    :meth:`~aae_core.generation.MoleculeGenerator.sample_marked`), ``unique`` (first occurrence of this string in
    the batch) and ``novel`` (valid and not in ``known``). Properties come later, only for the rows that need
    them (:func:`with_properties`), so a batch of 1,000 is described in a fraction of a second."""
    if valid is None:
        valid = [chem.mol_from_smiles(s) is not None for s in smiles]
    valid = list(map(bool, valid))
    return pd.DataFrame({
        "smiles": smiles, "valid": valid, "unique": ~pd.Series(smiles).duplicated().to_numpy(),
        "novel": [ok and s not in known for s, ok in zip(smiles, valid, strict=True)],
    })


def batch_stats(frame: pd.DataFrame) -> dict[str, float]:
    """MOSES-style ``validity`` (valid / all), ``uniqueness`` (distinct valid / valid) and ``novelty``
    (distinct valid not in the training set / distinct valid); NaN where undefined."""
    distinct = frame["valid"] & frame["unique"]
    valid, unique, novel = frame["valid"].sum(), distinct.sum(), (distinct & frame["novel"]).sum()
    return {"validity": valid / len(frame) if len(frame) else np.nan,
            "uniqueness": unique / valid if valid else np.nan,
            "novelty": novel / unique if unique else np.nan}


@st.cache_data(show_spinner=False, max_entries=16)
def sample_batch(path: str, modified: float, n: int, temperature: float, seed: int, _loaded: LoadedModel) -> Batch:
    """Sample ``n`` molecules from the prior (seeded) and :func:`describe` them."""
    smiles, valid = MoleculeGenerator(_loaded).sample_marked(n, temperature=temperature, seed=seed,
                                                             workers=DECODE_WORKERS)
    settings = {"model": _loaded.name, "n": n, "temperature": temperature, "seed": seed}
    return Batch(describe(smiles, training_set(), valid), settings)


@dataclass
class Filters:
    """Which molecules of a batch to keep. ``ranges``: property -> (low, high), a bound at the end of
    :data:`PROPERTY_RANGES` meaning no limit; ``lipinski``: at most one rule-of-five violation (Lipinski's
    own criterion); ``smarts``: substructure that must be present (empty: any); ``unique_only``: the first
    copy of each string only."""

    ranges: dict[str, tuple[float, float]]
    lipinski: bool = False
    smarts: str = ""
    valid_only: bool = True
    unique_only: bool = True

    def needs_properties(self) -> bool:
        """Whether a property range or the rule of five is set (then every row's properties are needed)."""
        return self.lipinski or any(low > PROPERTY_RANGES[name][0] or high < PROPERTY_RANGES[name][1]
                                    for name, (low, high) in self.ranges.items())


def apply_filters(frame: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The rows of a :func:`describe` frame that pass ``filters`` (with :data:`PROPERTY_COLUMNS` added when
    a property filter needs them).

    Raises
    ------
    ValueError
        If ``filters.smarts`` is not valid SMARTS or longer than :data:`inputs.MAX_SMARTS_CHARS`.
    """
    smarts = inputs.check_length(filters.smarts, inputs.MAX_SMARTS_CHARS, "the SMARTS pattern")
    if filters.needs_properties():
        frame = with_properties(frame)
    keep = pd.Series(True, index=frame.index)
    if filters.valid_only:
        keep &= frame["valid"]
    if filters.unique_only:
        keep &= frame["unique"]
    for name, (low, high) in filters.ranges.items():
        full_low, full_high = PROPERTY_RANGES[name]
        if low > full_low:
            keep &= frame[name] >= low
        if high < full_high:
            keep &= frame[name] <= high
    if filters.lipinski:
        keep &= frame["lipinski"] <= 1
    if smarts:
        query = chem.substructure_query(smarts)
        keep &= np.array([m is not None and m.HasSubstructMatch(query) for m in map(chem.mol_from_smiles,
                                                                                      frame["smiles"])], dtype=bool)
    return frame[keep]


# -- drawings --------------------------------------------------------------------------------------
def svg_uri(svg: str) -> str:
    """An SVG document as a ``data:`` URI (for image columns and ``st.image``)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def invalid_svg(size: tuple[int, int]) -> str:
    """A dashed grey box saying "invalid SMILES", the drawing of a string that does not parse."""
    width, height = size
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
            f'<rect x="2" y="2" width="{width - 4}" height="{height - 4}" fill="#fafafa" stroke="#ccc" '
            'stroke-dasharray="5 4"/><text x="50%" y="50%" text-anchor="middle" dominant-baseline="middle" '
            'font-family="sans-serif" font-size="15" fill="#999">invalid SMILES</text></svg>')


@functools.lru_cache(maxsize=20_000)
def drawing(smiles: str, size: tuple[int, int] = (200, 140)) -> str:
    """RDKit drawing of a SMILES as a data URI (:func:`invalid_svg` when it does not parse)."""
    mol = chem.mol_from_smiles(smiles)
    return svg_uri(chem.mol_to_svg(mol, size) if mol is not None else invalid_svg(size))


def with_drawings(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a first column ``molecule`` holding each row's drawing."""
    return frame.assign(molecule=[drawing(s) for s in frame["smiles"]])[["molecule", *frame.columns]]


def aligned_drawings(smiles: list[str], size: tuple[int, int] = (220, 170), bond_length: float = 22.0) -> list[str]:
    """Drawings of a sequence of molecules laid out consistently: each molecule is aligned on the
    Bemis-Murcko scaffold of the first (else the last) valid molecule when it contains it, and every bond
    is drawn at the same length. Returns data URIs, one per input."""
    mols = [chem.mol_from_smiles(s) for s in smiles]
    templates = [_template(m) for m in (mols[0], mols[-1]) if m is not None]
    out = []
    for mol in mols:
        if mol is None:
            out.append(svg_uri(invalid_svg(size)))
            continue
        mol = Chem.Mol(mol)
        pattern = next((t for t in templates if mol.HasSubstructMatch(t[1])), None)
        if pattern is None:
            rdDepictor.Compute2DCoords(mol)
        else:
            rdDepictor.GenerateDepictionMatching2DStructure(mol, pattern[0], refPatt=pattern[1], acceptFailure=True)
        drawer = rdMolDraw2D.MolDraw2DSVG(*size)
        drawer.drawOptions().fixedBondLength = bond_length
        drawer.drawOptions().clearBackground = False
        drawer.DrawMolecule(mol)
        drawer.FinishDrawing()
        out.append(svg_uri(drawer.GetDrawingText()))
    return out


def _template(mol: Chem.Mol) -> tuple[Chem.Mol, Chem.Mol]:
    """(scaffold with 2-D coordinates, the same scaffold as a query): the anchor of aligned drawings."""
    scaffold = MurckoScaffold.GetScaffoldForMol(mol)
    scaffold = scaffold if scaffold.GetNumAtoms() else Chem.Mol(mol)
    rdDepictor.Compute2DCoords(scaffold)
    return scaffold, Chem.MolFromSmarts(Chem.MolToSmarts(scaffold))


# -- interpolation ---------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=32)
def interpolation(path: str, modified: float, start: str, end: str, steps: int, method: str,
                  _loaded: LoadedModel) -> pd.DataFrame:
    """Greedy decodings along the latent path from ``start`` to ``end``: columns ``t``, ``smiles``,
    ``valid``, ``novel`` (valid and not in the training set).

    Raises
    ------
    DataError, TokenizerError
        If a SMILES is invalid or the model cannot read it.
    """
    path_frame = MoleculeGenerator(_loaded).interpolate(start, end, steps, method)
    known = training_set()
    return path_frame.assign(novel=[ok and s not in known for s, ok in zip(path_frame["smiles"], path_frame["valid"],
                                                                            strict=True)])


# -- divergences ----------------------------------------------------------------------------------
SHIFTS = np.linspace(-4.0, 4.0, 161)  # shifts of Q on the Divergences page


@st.cache_data(show_spinner=False, max_entries=64)
def divergence_curve(shape: str, width: float) -> pd.DataFrame:
    """:func:`aae_core.latent.divergence_curve` over :data:`SHIFTS`, on the grid of the largest shift."""
    return latent.divergence_curve(shape, width, SHIFTS)


# -- exports ---------------------------------------------------------------------------------------
def to_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes of ``frame`` (drawings left out)."""
    return frame.drop(columns=["molecule"], errors="ignore").to_csv(index=False).encode()


def to_sdf(frame: pd.DataFrame) -> str:
    """An SD file of the valid molecules of ``frame`` (2-D coordinates; the other columns as properties)."""
    buffer = io.StringIO()
    writer = Chem.SDWriter(buffer)
    for row in frame.drop(columns=["molecule"], errors="ignore").to_dict("records"):
        mol = chem.mol_from_smiles(row["smiles"])
        if mol is None:
            continue
        rdDepictor.Compute2DCoords(mol)
        mol.SetProp("_Name", row["smiles"])
        for key, value in row.items():
            if pd.notna(value):
                mol.SetProp(str(key), str(value))
        writer.write(mol)
    writer.close()
    return buffer.getvalue()


# -- uploads ---------------------------------------------------------------------------------------
@st.cache_data(show_spinner=False, max_entries=8)
def read_upload(name: str, data: bytes, smiles_column: str, folder: str) -> tuple[str, dict, int]:
    """Validate an uploaded molecule file and keep it in ``folder``: returns (its path, the loader's report
    as a dict, the number of molecules kept). The file is checked and cut to :data:`inputs.MAX_ROWS` rows
    (:func:`inputs.molecule_upload`) before anything parses it.

    Raises
    ------
    DataError
        If the file is empty, too large, not text, has an over-long line, is of an unknown type, lacks the SMILES
        column or holds no valid molecule.
    """
    smiles_column = inputs.check_length(smiles_column, inputs.MAX_TEXT_CHARS, "the SMILES column name")
    name, text = inputs.molecule_upload(name, data)
    _check_smiles_column(name, inputs.header_columns(name, text), smiles_column)
    path = Path(folder) / name
    path.write_text(text, encoding="utf-8")
    molecules = load_molecules(path, smiles_column or None, max_rows=inputs.MAX_ROWS)
    return str(path), molecules.report.to_dict(), len(molecules)


def _check_smiles_column(name: str, columns: list[str] | None, wanted: str) -> None:
    """Raise a :class:`DataError` pointing at the page's column box when a CSV/TSV file's header ``columns``
    lack ``wanted`` or, with no column named, every usual SMILES column name."""
    if columns is None:
        return
    if (wanted in columns) if wanted else any(guess in columns for guess in SMILES_COLUMN_GUESSES):
        return
    shown = ", ".join(repr(c[:40]) for c in columns[:10]) + (", ..." if len(columns) > 10 else "")
    problem = f"no column {wanted!r}" if wanted else "no SMILES column found"
    raise DataError(f"{name} has {problem} among its columns ({shown}): name the column in the box **SMILES "
                    "column** (the one that holds the SMILES)")


def save_image_uploads(files, folder: Path) -> tuple[str, str | None]:
    """Check uploaded image files (:func:`inputs.image_upload`) and save them in ``folder``: returns (the path of
    the images file, of the labels file or ``None``).

    Raises
    ------
    DataError
        If a file is refused, or there is not exactly one images file (.npz, or *-idx3-ubyte[.gz]).
    """
    paths = []
    for upload in files:
        name, data = inputs.image_upload(upload.name, upload.getvalue())
        paths.append(folder / name)
        paths[-1].write_bytes(data)
    images = [p for p in paths if p.suffix == ".npz" or "idx3" in p.name]
    labels = [p for p in paths if "idx1" in p.name]
    if len(images) != 1:
        raise DataError("upload one images file (.npz, or *-idx3-ubyte[.gz]) and optionally its *-idx1-ubyte labels")
    return str(images[0]), str(labels[0]) if labels else None


# -- training --------------------------------------------------------------------------------------
#: Where training data can come from. The Digits pages train image models (aae_core.images); a new molecule
#: source is one more entry here (a shipped name or "upload").
DATASETS = {"MOSES train cut (shipped, 250,000 molecules)": "moses-train",
            "MOSES test split (shipped, 176,074 molecules)": "moses-test",
            "Upload a molecule file": "upload"}
MOLECULE_FAMILIES = ("aae", "vae", "ae")  # shown when aae_core.registry.MODELS has them
#: Network sizes (ModelConfig overrides); "shipped" is the MOSES-sized default.
MODEL_SIZES = {"tiny": {"hidden_dim": 64, "decoder_hidden_dim": 128, "discriminator_dims": [64]},
               "small": {"hidden_dim": 128, "decoder_hidden_dim": 256, "discriminator_dims": [256, 128]},
               "shipped": {}}
PRIORS = {"gaussian": {"name": "gaussian", "sigma": 1.0},
          "mixture": {"name": "mixture", "k": 10, "radius": 4.0, "sigma": 0.5},
          "uniform": {"name": "uniform", "low": -1.0, "high": 1.0}}


def molecule_families() -> list[str]:
    """Molecule model families the registry provides, AAE first."""
    from aae_core.registry import MODELS

    return [name for name in MOLECULE_FAMILIES if name in MODELS]


def start_training(data: str, smiles_column: str | None, max_molecules: int, family: str, representation: str,
                   size: str, latent_dim: int, prior: str, epochs: int, time_budget_s: float) -> TrainingJob:
    """Start training a new model of this session in a worker thread (see :class:`jobs.TrainingJob`).

    Raises
    ------
    ConfigError
        If the settings do not make a valid configuration (the message names the field).
    jobs.LimitError
        If this session already trains, or the server runs as many trainings as it allows.
    """
    model_cfg = from_dict(ModelConfig, {"model": family, "representation": representation, "latent_dim": latent_dim,
                                        "prior": PRIORS[prior], **MODEL_SIZES[size]})
    train_cfg = from_dict(TrainConfig, {"data": data, "smiles_column": smiles_column or None,
                                        "max_molecules": max_molecules, "epochs": epochs, "batch_size": 64,
                                        "time_budget_s": time_budget_s, "log_every": 5, "monitor_samples": 100})
    name = f"{family}-{representation}-z{latent_dim}-{len(st.session_state[state.SESSION_MODELS]) + 1}"
    return state.start_job(TrainingJob(name, state.session_dir() / f"{name}.safetensors", model_cfg, train_cfg,
                                       session_card(name)))


def start_image_training(cfg, train_cfg: TrainConfig, total_epochs: int) -> ImageTrainingJob:
    """Start training an image model of this session (the Digits pages) in a worker thread.

    Raises
    ------
    jobs.LimitError
        If this session already trains, or the server runs as many trainings as it allows.
    """
    name = f"digits_session_{cfg.model}"
    path = str(state.session_dir() / f"{name}.safetensors")
    card = session_card(name, "trained in the dashboard (Digits: train)")
    return state.start_job(ImageTrainingJob(name, path, total_epochs, cfg, train_cfg, card))


def session_card(name: str, command: str = "trained in the dashboard") -> dict:
    """The model card of a model trained in the app: its ``name``, when it was ``created`` and ``command`` (where
    it was trained, in place of a CLI command)."""
    return {"name": name, "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": command}


# -- loss curves -----------------------------------------------------------------------------------
def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average with bias correction, as TensorBoard draws it:
    ``s_t = weight s_{t-1} + (1 - weight) x_t``, shown as ``s_t / (1 - weight^t)``; (n,) -> (n,)."""
    values = np.asarray(values, dtype=np.float64)
    out, running = np.empty_like(values), 0.0
    for t, value in enumerate(values, start=1):
        running = weight * running + (1 - weight) * value
        out[t - 1] = running / (1 - weight**t) if weight > 0 else value
    return out


def loss_table(histories: dict[str, dict], weight: float = 0.0) -> pd.DataFrame:
    """Step records of several runs in long form: ``run``, ``step``, ``epoch`` (fractional, from the batch
    position), ``time_s``, ``term`` (one of :data:`LOSS_TERMS`), ``value`` and ``smoothed`` (:func:`smooth`
    per run and term)."""
    rows = []
    for run, history in histories.items():
        for record in history.get("steps", []):
            epoch = record.get("epoch", 0) + record.get("batch", 0) / max(record.get("batches", 1), 1)
            rows += [{"run": run, "step": record["step"], "epoch": epoch, "time_s": record.get("time_s", np.nan),
                      "term": term, "value": record[term]} for term in LOSS_TERMS if term in record]
    table = pd.DataFrame(rows, columns=["run", "step", "epoch", "time_s", "term", "value"])
    table["smoothed"] = table.groupby(["run", "term"], sort=False)["value"].transform(lambda v: smooth(v, weight))
    return table


# -- generation metrics ----------------------------------------------------------------------------
METRICS_NAMES = ("evaluate", "load_reference", "moses_smiles", "MOSES_PAPER", "to_frame")


def metrics_module():
    """``aae_core.metrics`` if it provides what the Compare page needs, else ``None`` (the page says so)."""
    try:
        module = importlib.import_module("aae_core.metrics")
    except ImportError:
        return None
    return module if all(hasattr(module, name) for name in METRICS_NAMES) else None


@st.cache_resource(show_spinner=False)
def _metrics_reference():
    metrics = metrics_module()
    smiles = metrics.moses_smiles("test")[:METRICS_REFERENCE]
    return metrics.load_reference(smiles, name=f"MOSES test ({METRICS_REFERENCE:,})")


@st.cache_data(show_spinner=False, max_entries=32)
def run_metrics(path: str, modified: float, _loaded: LoadedModel) -> dict[str, float]:
    """MOSES metrics of :data:`METRICS_SAMPLES` samples (seed 0) against :data:`METRICS_REFERENCE` MOSES test
    molecules, novelty against the shipped train cut (see ``aae_core.metrics.evaluate``)."""
    samples = MoleculeGenerator(_loaded).sample(METRICS_SAMPLES, seed=0, workers=DECODE_WORKERS)
    return metrics_module().evaluate(samples, _metrics_reference(), k=(METRICS_SAMPLES,))


def metrics_table(runs: dict[str, dict[str, float]]) -> pd.DataFrame:
    """One row per run, then the MOSES paper's AAE and VAE rows; metrics in MOSES column order."""
    metrics = metrics_module()
    return metrics.to_frame(runs | {f"MOSES {name} (paper)": values for name, values in metrics.MOSES_PAPER.items()})
