"""Training in the background: the choices of the Train pages, starting a session's training job and
collecting its model when it ends, and the loss curves of runs."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from aae_core.config import ModelConfig, TrainConfig, from_dict
from aae_core.exceptions import CheckpointError
from aae_core.registry import load_model
from dashboard import state
from dashboard.jobs import ImageTrainingJob, TrainingJob
from dashboard.services.models import ModelRef, session_ref

#: Where training data can come from. The Digits pages train image models (aae_core.images.training); a new molecule
#: source is one more entry here (a shipped name or "upload").
DATASETS = {"MOSES train cut (shipped, 250,000 molecules)": "moses-train",
            "MOSES test split (shipped, 176,074 molecules)": "moses-test",
            "Upload a molecule file": "upload"}
MOLECULE_FAMILIES = ("aae", "vae", "ae")  # shown when aae_core.molecules.families.MODELS has them
#: Network sizes (ModelConfig overrides); "shipped" is the MOSES-sized default.
MODEL_SIZES = {"tiny": {"hidden_dim": 64, "decoder_hidden_dim": 128, "discriminator_dims": [64]},
               "small": {"hidden_dim": 128, "decoder_hidden_dim": 256, "discriminator_dims": [256, 128]},
               "shipped": {}}
PRIORS = {"gaussian": {"name": "gaussian", "sigma": 1.0},
          "mixture": {"name": "mixture", "k": 10, "radius": 4.0, "sigma": 0.5},
          "uniform": {"name": "uniform", "low": -1.0, "high": 1.0}}


def molecule_families() -> list[str]:
    """Molecule model families the registry provides, AAE first."""
    from aae_core.molecules.families import MODELS

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


# -- loss curves -----------------------------------------------------------------------------------
LOSS_TERMS = ("reconstruction", "discriminator", "generator", "kl")


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
