"""Session-state keys and their defaults, in one place.

Everything a user builds up in one browser session lives here: the models they trained, the molecules
they picked, their last sampled batch and their training job. Nothing here is shared between sessions.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from aae_core import chem

MODEL = "model"  # key of the model chosen in the sidebar (services.ModelRef.key)
SESSION_MODELS = "session_models"  # {ModelRef.key: LoadedModel} trained in this session
SESSION_DIR = "session_dir"  # this session's temporary folder (checkpoints, uploads), made on first use
BASKET = "basket"  # DataFrame of candidate molecules, columns BASKET_COLUMNS
BATCH = "batch"  # last sampled batch on the Sample page: services.Batch or None
TRAINING = "training"  # the session's jobs.TrainingJob (running or finished) or None
METRICS = "run_metrics"  # {(checkpoint path, mtime): generation metrics} computed on the Compare page

BASKET_COLUMNS = ["smiles", "source", "model"]


def init() -> None:
    """Give every key its default (once per session)."""
    defaults = {SESSION_MODELS: dict, METRICS: dict, BASKET: lambda: pd.DataFrame(columns=BASKET_COLUMNS),
                BATCH: lambda: None, TRAINING: lambda: None, SESSION_DIR: lambda: None}
    for key, make in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = make()


def session_dir() -> Path:
    """This session's own temporary folder (created the first time it is needed)."""
    if st.session_state[SESSION_DIR] is None:
        st.session_state[SESSION_DIR] = tempfile.mkdtemp(prefix="aae-lab-session-")
    return Path(st.session_state[SESSION_DIR])


def basket() -> pd.DataFrame:
    """The candidate basket (smiles, source, model), one row per distinct molecule."""
    return st.session_state[BASKET]


def add_to_basket(smiles: list[str], source: str, model: str) -> int:
    """Add the valid molecules among ``smiles`` (canonicalised; invalid strings and molecules already in the
    basket are skipped); returns how many were added."""
    current = basket()
    canonical = [c for c in chem.canonicalize_many(smiles) if c is not None]
    new = [s for s in dict.fromkeys(canonical) if s not in set(current["smiles"])]
    if new:
        rows = pd.DataFrame({"smiles": new, "source": source, "model": model})
        st.session_state[BASKET] = pd.concat([current, rows], ignore_index=True)
    return len(new)


def remove_from_basket(positions: list[int]) -> None:
    """Drop basket rows by position."""
    st.session_state[BASKET] = basket().drop(basket().index[positions]).reset_index(drop=True)
