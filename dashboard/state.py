"""Session-state keys and their defaults, in one place.

Everything a user builds up in one browser session lives here: the models they trained, the molecules
they picked, their last sampled batch and their training job. Nothing here is shared between sessions.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from aae_core.molecules import chem
from dashboard import jobs

MODEL = "model"  # key of the model chosen in the sidebar (services.models.ModelRef.key)
SESSION_MODELS = "session_models"  # {ModelRef.key: LoadedModel} trained in this session
SESSION_KEY = "session_key"  # this session's key in jobs.SESSIONS (its temporary folder and training run)
BASKET = "basket"  # DataFrame of candidate molecules, columns BASKET_COLUMNS
BATCH = "batch"  # last sampled batch on the Sample page: services.sampling.Batch or None
TRAINING = "training"  # the session's jobs.TrainingJob (running or finished) or None
METRICS = "run_metrics"  # {(checkpoint path, mtime): generation metrics} computed on the Compare page

BASKET_COLUMNS = ["smiles", "source", "model"]


def init() -> None:
    """Give every key its default (once per session)."""
    defaults = {SESSION_MODELS: dict, METRICS: dict, BASKET: lambda: pd.DataFrame(columns=BASKET_COLUMNS),
                BATCH: lambda: None, TRAINING: lambda: None}
    for key, make in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = make()


def _session_ids() -> tuple[str, str]:
    """(this session's key in :data:`jobs.SESSIONS`, Streamlit's id of its browser connection)."""
    context = get_script_run_ctx()
    key = st.session_state.setdefault(SESSION_KEY, uuid.uuid4().hex)  # made here: pages may run without init()
    return key, context.session_id if context is not None else ""


def session_dir() -> Path:
    """This session's own temporary folder for checkpoints and uploads (made the first time it is needed,
    removed once the session has gone: see :class:`jobs.Sessions`)."""
    return jobs.SESSIONS.folder(*_session_ids())


def start_job(job: jobs.Job) -> jobs.Job:
    """Start ``job`` as this session's training run.

    Raises
    ------
    jobs.LimitError
        If this session already has a run going, or the server runs as many as it allows.
    """
    return jobs.SESSIONS.start(*_session_ids(), job)


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
