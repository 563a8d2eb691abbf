"""Shipped and session models: the lists the user picks from, loading them, and the keys of the data caches.

Shipped models (``checkpoints/*.safetensors``, or ``$AAE_LAB_CHECKPOINTS``) are loaded once per server
process with ``st.cache_resource``, keyed by path and modification time, so a checkpoint rewritten by a
running training is picked up. Models trained in a session live in that session's state only
(:mod:`dashboard.state`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st
from safetensors import SafetensorError, safe_open

from aae_core.checkpoints import META_KEY
from aae_core.exceptions import CheckpointError
from aae_core.images.training import LABELLED_MODELS
from aae_core.registry import LoadedModel, load_model
from dashboard import state

ROOT = Path(__file__).resolve().parents[2]
IMAGE_MODALITIES = ("image", "images")  # checkpoints of these modalities belong to the Digits pages


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


def cache_key(loaded: LoadedModel) -> tuple[str, float]:
    """(path, modification time): identifies a model's weights in the data caches."""
    return str(loaded.path), mtime(loaded.path)
