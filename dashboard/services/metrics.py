"""Generation metrics of runs (MOSES), for the Compare page, when ``aae_core.molecules.metrics`` provides them."""

from __future__ import annotations

import importlib

import pandas as pd
import streamlit as st

from aae_core.molecules.generation import MoleculeGenerator
from aae_core.registry import LoadedModel
from dashboard.services.sampling import DECODE_WORKERS

METRICS_SAMPLES = 1_000  # molecules sampled per run for the metrics table
METRICS_REFERENCE = 2_000  # MOSES test molecules in the metrics' reference set
METRICS_NAMES = ("evaluate", "load_reference", "moses_smiles", "MOSES_PAPER", "to_frame")


def metrics_module():
    """``aae_core.molecules.metrics`` if it provides what the Compare page needs, else ``None`` (the page says so)."""
    try:
        module = importlib.import_module("aae_core.molecules.metrics")
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
    molecules, novelty against the shipped train cut (see ``aae_core.molecules.metrics.evaluate``)."""
    samples = MoleculeGenerator(_loaded).sample(METRICS_SAMPLES, seed=0, workers=DECODE_WORKERS)
    return metrics_module().evaluate(samples, _metrics_reference(), k=(METRICS_SAMPLES,))


def metrics_table(runs: dict[str, dict[str, float]]) -> pd.DataFrame:
    """One row per run, then the MOSES paper's AAE and VAE rows; metrics in MOSES column order."""
    metrics = metrics_module()
    return metrics.to_frame(runs | {f"MOSES {name} (paper)": values for name, values in metrics.MOSES_PAPER.items()})
