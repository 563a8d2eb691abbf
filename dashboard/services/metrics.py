"""Generation metrics (MOSES) and latent-space numbers of runs, for the Compare page, when
``aae_core.molecules.metrics`` provides them; every long step reports to a progress callback.

The results and the reference set are kept for the whole server (results by checkpoint path and modification time,
:data:`MAX_KEPT` of them), not in ``st.cache_data``: a cached function would record the page's progress-bar updates
and replay them. The RDKit work
runs in worker processes (``n_jobs=-1``, spawned once per server and kept; see
``aae_core.molecules.metrics.parallel``).
"""

from __future__ import annotations

import importlib
import math
import sys
import threading
import types
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import pandas as pd

from aae_core.molecules.generation import MoleculeGenerator
from aae_core.registry import LoadedModel

METRICS_SAMPLES = 1_000  # molecules sampled per run for the metrics table
METRICS_REFERENCE = 2_000  # MOSES test molecules in the metrics' reference set
METRICS_NAMES = ("evaluate", "load_reference", "moses_smiles", "MOSES_PAPER", "to_frame", "sample_with_progress")
LATENT_HELD_OUT = 200  # MOSES test molecules encoded per run for the latent-space numbers
LATENT_POOL = 500  # MOSES training molecules whose codes are the neighbour pool
MAX_KEPT = 64  # results kept for the server
#: Latent-space numbers shown per run (``aae_core.molecules.latent_quality``), with their column titles.
LATENT_COLUMNS = {"prior_auc": "prior AUC", "mmd2": "MMD²", "exact_match": "exact reconstruction",
                  "reconstruction_tanimoto": "reconstruction Tanimoto",
                  "neighbour_ratio": "neighbour / random Tanimoto"}
#: Number formats of the table's columns (printf style, as ``st.column_config.NumberColumn`` takes them).
FORMATS = {"FCD": "%.2f", "weight": "%.1f", "logP": "%.3f", "SA": "%.3f", "QED": "%.4f", "MMD²": "%.4f"}

Progress = Callable[[str, int, int], None]
_RESULTS: OrderedDict[tuple, dict[str, float]] = OrderedDict()
_LOCK = threading.Lock()
_REFERENCE = None
_REFERENCE_LOCK = threading.Lock()
_WORKERS_STARTED = False
_WORKERS_LOCK = threading.Lock()


def metrics_module():
    """``aae_core.molecules.metrics`` if it provides what the Compare page needs, else ``None`` (the page says so)."""
    try:
        module = importlib.import_module("aae_core.molecules.metrics")
    except ImportError:
        return None
    return module if all(hasattr(module, name) for name in METRICS_NAMES) else None


def start_workers() -> None:
    """Start the metrics' worker processes (one per CPU), once per server, with a bare ``__main__``.

    A spawned process first runs its parent's ``__main__`` module; under ``streamlit run`` that is the app script
    (Streamlit installs each script run as ``__main__``), so every worker would run the whole app without a session.
    While the workers start, ``sys.modules["__main__"]`` is an empty module, which a child does not run.
    """
    global _WORKERS_STARTED
    from aae_core.molecules.metrics.parallel import MIN_CHUNK, map_chunks, resolve_jobs

    with _WORKERS_LOCK:
        if _WORKERS_STARTED:
            return
        main, sys.modules["__main__"] = sys.modules["__main__"], types.ModuleType("__main__")
        try:  # more chunks than workers: the pool spawns every worker now, while __main__ is bare
            map_chunks(len, range(4 * MIN_CHUNK * resolve_jobs(-1)), n_jobs=-1, chunk=MIN_CHUNK)
        finally:
            sys.modules["__main__"] = main
        _WORKERS_STARTED = True


def reference(progress: Progress | None = None):
    """The metrics' reference set (:data:`METRICS_REFERENCE` MOSES test molecules), kept for the server; the first
    call reads it from the disk cache or builds it, reporting the steps of ``load_reference`` to ``progress``."""
    global _REFERENCE
    with _REFERENCE_LOCK:  # another session asking meanwhile waits for this build
        if _REFERENCE is None:
            metrics = metrics_module()
            smiles = metrics.moses_smiles("test")[:METRICS_REFERENCE]
            _REFERENCE = metrics.load_reference(smiles, name=f"MOSES test ({METRICS_REFERENCE:,})", n_jobs=-1,
                                                progress=progress)
        return _REFERENCE


def known(path: str, modified: float) -> dict[str, float] | None:
    """The numbers of the checkpoint ``path`` as of ``modified`` if this server computed them, else ``None``."""
    with _LOCK:
        return _RESULTS.get((path, modified))


def run_metrics(path: str, modified: float, loaded: LoadedModel, progress: Progress | None = None,
                latent: bool = False) -> dict[str, float]:
    """MOSES metrics of :data:`METRICS_SAMPLES` samples (seed 0) against :data:`METRICS_REFERENCE` MOSES test
    molecules, novelty against the shipped train cut (``aae_core.molecules.metrics.evaluate`` with ``n_jobs=-1``),
    and with ``latent`` the :func:`latent_numbers` (keys of :data:`LATENT_COLUMNS`); kept for the server by
    (``path``, ``modified``), and only what is not kept yet is computed. ``progress(stage, done, total)`` hears of
    sampling, the reference and each metric group (stage names as ``evaluate`` reports them), then
    ``"latent space"``.

    Raises
    ------
    AAELabError, ValueError
        If sampling or scoring fails (e.g. a tokenizer error); nothing new is kept then.
    """
    result = dict(known(path, modified) or {})
    if "valid" not in result:
        metrics = metrics_module()
        start_workers()
        samples = metrics.sample_with_progress(MoleculeGenerator(loaded), METRICS_SAMPLES, seed=0, progress=progress)
        result |= metrics.evaluate(samples, reference(progress), k=(METRICS_SAMPLES,), n_jobs=-1, progress=progress)
    if latent and "prior_auc" not in result:
        result |= latent_numbers(loaded, progress)
    with _LOCK:
        _RESULTS[(path, modified)] = result
        while len(_RESULTS) > MAX_KEPT:
            _RESULTS.popitem(last=False)
    return result


def latent_numbers(loaded: LoadedModel, progress: Progress | None = None) -> dict[str, float]:
    """``aae_core.molecules.latent_quality.latent_quality`` of :data:`LATENT_HELD_OUT` MOSES test molecules with a
    pool of :data:`LATENT_POOL` training molecules, reduced to the keys of :data:`LATENT_COLUMNS` (NaN where the
    model's tokenizer reads too few of them); reports ``"latent space"`` (0 then 1 of 1)."""
    from aae_core.exceptions import AAELabError
    from aae_core.molecules.latent_quality import held_out_molecules, latent_quality

    if progress is not None:
        progress("latent space", 0, 1)
    try:
        held_out = held_out_molecules(loaded, "moses-test", LATENT_HELD_OUT)
        pool = held_out_molecules(loaded, "moses-train", LATENT_POOL)
        found = latent_quality(loaded, held_out, seed=0, neighbour_pool=pool).metrics
    except AAELabError:  # e.g. a model of another chemical space whose tokenizer reads no MOSES molecule
        found = {}
    if progress is not None:
        progress("latent space", 1, 1)
    return {name: float(found.get(name, math.nan)) for name in LATENT_COLUMNS}


def metrics_table(runs: dict[str, dict[str, float]], paper: bool = True) -> pd.DataFrame:
    """One row per run (index ``run``), then (with ``paper``) the MOSES paper's AAE and VAE rows: the metrics in
    MOSES column order, then the latent-space columns (titles of :data:`LATENT_COLUMNS`); NaN where a run lacks a
    number (the page shows a dash)."""
    metrics = metrics_module()
    rows = dict(runs)
    if paper:
        rows |= {f"MOSES {name} (paper)": values for name, values in metrics.MOSES_PAPER.items()}
    generation = {run: {k: v for k, v in values.items() if k not in LATENT_COLUMNS} for run, values in rows.items()}
    frame = metrics.to_frame(generation)
    for name, title in LATENT_COLUMNS.items():
        if any(name in values for values in rows.values()):
            frame[title] = [rows[run].get(name, np.nan) for run in frame.index]
    return frame


def column_formats(frame: pd.DataFrame) -> dict[str, str]:
    """A printf number format for each column of ``frame``: :data:`FORMATS` by name (first match of a column name's
    prefix), three decimals otherwise."""
    formats = {}
    for name in frame.columns:
        formats[name] = next((fmt for prefix, fmt in FORMATS.items() if name.startswith(prefix)), "%.3f")
    return formats


def frontier_points(runs: dict[str, LoadedModel], computed: dict[str, dict[str, float]]) -> dict[str, tuple]:
    """(prior validity, exact reconstruction) per run for ``latent_quality.frontier_figure``: the model card's
    ``latent_space`` figures where it has them (10,000 samples, 1,000 test molecules), else the numbers computed
    here (``computed[name]`` with ``valid`` and ``exact_match``); runs with neither are left out."""
    from aae_core.molecules.latent_quality import frontier_point

    points = {}
    for name, loaded in runs.items():
        point = frontier_point(loaded.meta)
        values = computed.get(name, {})
        if point is None and not math.isnan(values.get("exact_match", math.nan)) and "valid" in values:
            point = (values["valid"], values["exact_match"])
        if point is not None:
            points[name] = point
    return points
