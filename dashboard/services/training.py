"""Training in the background: the choices and presets of the Train pages, starting a session's training job
(from scratch, or warm-started from a shipped model) and collecting its model when it ends, the loss curves of runs
and the runs the Compare page starts with."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

from aae_core.checkpoints import load_checkpoint, save_checkpoint
from aae_core.config import ModelConfig, TrainConfig, from_dict, to_dict
from aae_core.exceptions import CheckpointError, ConfigError
from aae_core.molecules.data import load_molecules
from aae_core.molecules.families import build_model
from aae_core.molecules.tokenizers import Tokenizer
from aae_core.registry import load_model
from dashboard import state
from dashboard.jobs import ImageTrainingJob, TrainingJob
from dashboard.services.models import ModelRef, checkpoint_dir, session_ref

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
#: Where a new run's weights come from: "scratch" (random), or the shipped model of this file name in
#: ``checkpoint_dir()`` (offered when it is there; see :func:`warm_start_checkpoint`).
WARM_START = "aae_moses.safetensors"
STARTS = {"scratch": "random weights (a new network)",
          "shipped": "the shipped AAE's weights (aae_moses), with a new code layer of latent_dim"}
#: Learning rates of a warm-started run: the autoencoder's 50x lower than the shipped run's, so that the borrowed
#: decoder keeps its grammar (lr 2e-4 gave 70-84% valid after 90 s, 2e-5 gives 87-93%); the encoder-as-generator as
#: slow, and the discriminator faster, so that it adapts to the new code before it moves the codes (with a generator
#: rate of 2e-4 or 5e-5 the codes left the prior within 5-30 steps, AUC 0.8-1.0 after 90 s; with 2e-5 they went
#: back onto it: AUC 0.52 at step 0, 0.80 at step 10, 0.51 from step 50 on).
WARM_START_RATES = {"lr": 2e-5, "generator_lr": 2e-5, "discriminator_lr": 1e-3}
SAMPLES = 500  # prior samples a finished run decodes for the page (validity, uniqueness, molecule size, drawings)
#: Presets of the Train page: widget key -> value. "classroom" draws a 2-D map while it trains, in under 2 minutes,
#: and samples mostly valid molecules (with the shipped AAE: a borrowed decoder; without it: SELFIES, valid by
#: construction); measured figures in :data:`CLASSROOM_NOTE`.
PRESETS = {
    "classroom": {"train_dataset": "MOSES train cut (shipped, 250,000 molecules)", "train_max_molecules": 2_000,
                  "train_start_from": "shipped", "train_family": "aae", "train_representation": "selfies",
                  "train_size": "small", "train_latent_dim": 2, "train_prior": "gaussian", "train_epochs": 100,
                  "train_budget": 90},
    "custom": {"train_dataset": "MOSES train cut (shipped, 250,000 molecules)", "train_max_molecules": 2_000,
               "train_start_from": "scratch", "train_family": "aae", "train_representation": "smiles",
               "train_size": "tiny", "train_latent_dim": 16, "train_prior": "gaussian", "train_epochs": 2,
               "train_budget": 120},
}
CLASSROOM_NOTE = ("Starts from the shipped AAE: its decoder, read on a 2-D slice of its code, writes valid molecules "
                  "from the first step (on a shared 2-core CPU: 87-93% of 500 samples valid, 21 heavy atoms on "
                  "average, after 90 s of training, under 2 minutes in all). The slice starts standardised on the "
                  "training molecules (their codes' mean 0 and covariance 1, like the prior's). The map shows where "
                  "the encoder puts 300 training molecules on that plane, over draws of the prior, and how well a "
                  "classifier tells them apart (AUC; 0.5: it cannot): watch the first steps push the codes off the "
                  "prior (AUC about 0.8) and the adversarial game pull them back onto it (0.51-0.58 after 90 s in our "
                  "runs).")
CLASSROOM_NOTE_SELFIES = ("A small SELFIES AAE with a 2-D code, from scratch (the shipped AAE to start from is not "
                          "in the checkpoints folder): every SELFIES string decodes to a molecule (99% of 500 "
                          "samples valid after 90 s on a shared 2-core CPU), but small ones (12 heavy atoms on "
                          "average; MOSES molecules have 22).")
DRAWN_SAMPLES = 12  # valid samples drawn on the Train page when a run ends
PRESET_LABELS = {"classroom": "Classroom: a live 2-D map of the codes, valid molecules, under 2 minutes",
                 "custom": "Custom: a tiny model from scratch, every choice yours"}


def molecule_families() -> list[str]:
    """Molecule model families the registry provides, AAE first."""
    from aae_core.molecules.families import MODELS

    return [name for name in MOLECULE_FAMILIES if name in MODELS]


def warm_start_source() -> Path | None:
    """The shipped checkpoint a run can start from (:data:`WARM_START` in ``checkpoint_dir()``), ``None`` if absent."""
    path = checkpoint_dir() / WARM_START
    return path if path.is_file() else None


#: The choices a run that starts from the shipped AAE takes from it (the page shows them, disabled).
BORROWED = {"train_family": "aae", "train_representation": "smiles", "train_size": "shipped", "train_prior": "gaussian"}


def preset_values(preset: str, warm_start: bool) -> dict:
    """The widget values of ``preset`` (a key of :data:`PRESETS`); without a shipped model to start from, the
    classroom preset trains from scratch (SELFIES, so samples are still valid)."""
    values = dict(PRESETS[preset])
    if not warm_start:
        values["train_start_from"] = "scratch"
    return values


def warm_start_config(source: str | Path, latent_dim: int) -> ModelConfig:
    """The architecture of a run warm-started from the checkpoint ``source``: its own, with a code of
    ``latent_dim`` dimensions.

    Raises
    ------
    CheckpointError
        If ``source`` is not a readable molecule AAE checkpoint.
    """
    meta = load_checkpoint(source).meta
    if meta.get("model_config", {}).get("model") != "aae":
        raise CheckpointError(f"{Path(source).name} is not an AAE checkpoint: a run can only start from an AAE")
    return from_dict(ModelConfig, {**meta["model_config"], "latent_dim": latent_dim})


def warm_start_checkpoint(source: str | Path, model_cfg: ModelConfig, out: str | Path,
                          molecules: Sequence[str] = ()) -> Path:
    """Write to ``out`` a checkpoint of architecture ``model_cfg`` (:func:`warm_start_config`) that holds the weights
    and tokenizer of the AAE at ``source``, for ``TrainConfig.init_from``. Every tensor of the same shape is copied;
    of the layers around the code, the encoder keeps the first ``latent_dim`` outputs of the source's, the decoder and
    the discriminator the first ``latent_dim`` inputs, so the new code is a slice through the source's: a prior draw
    decodes as a source code whose other dimensions are 0 (the source's decoder read on a plane through its prior,
    whose samples are about as valid), training molecules start where the source's encoder put them on that plane,
    and the discriminator starts from where the source's adversarial game left it (a random one would push every
    code the same way in the first steps).

    With ``molecules`` (SMILES the source's tokenizer reads, e.g. the run's training set), the slice is also
    standardised on them (:func:`standardise_code`): their codes start with mean 0 and covariance I, the first two
    moments of a standard Gaussian prior, and the decoder and discriminator read each code as the slice's code it
    stands for, so nothing they compute changes. On 2,000 MOSES training molecules and ``aae_moses`` cut to 2-D, the
    two-sample AUC of codes against prior draws goes from 0.91 to 0.57 before any training step.

    Raises
    ------
    CheckpointError
        If ``source`` cannot be read, ``model_cfg.latent_dim`` exceeds its code size, or ``molecules`` are too few to
        standardise on.
    """
    ckpt = load_checkpoint(source)
    tokenizer = Tokenizer.from_dict(ckpt.meta["tokenizer"])
    source_state, dim = ckpt.model_state, model_cfg.latent_dim
    if dim > source_state["decoder.latent_to_hidden.weight"].shape[1]:
        raise CheckpointError(f"latent_dim {dim} is larger than the code of {Path(source).name} "
                              f"({source_state['decoder.latent_to_hidden.weight'].shape[1]})")
    model = build_model(model_cfg, tokenizer.vocab_size)
    weights = model.state_dict()
    weights.update({name: value for name, value in source_state.items()
                    if name in weights and weights[name].shape == value.shape})
    for name in ("decoder.latent_to_hidden.weight", "discriminator.net.0.weight"):  # layers that read the code
        weights[name] = source_state[name][:, :dim].clone()
    weights["encoder.output.weight"] = source_state["encoder.output.weight"][:dim].clone()
    weights["encoder.output.bias"] = source_state["encoder.output.bias"][:dim].clone()
    if model_cfg.latent_input == "every_step":  # the decoder's first recurrent layer reads the code after each token
        reads = model_cfg.embedding_dim + dim  # its inputs: the token's embedding, then the code
        weights["decoder.rnn.weight_ih_l0"] = source_state["decoder.rnn.weight_ih_l0"][:, :reads].clone()
    if len(molecules):
        model.load_state_dict(weights)
        weights = standardise_code(weights, encode_all(model, tokenizer, molecules))
    meta = {"model_config": to_dict(model_cfg), "tokenizer": tokenizer.to_dict(),
            "card": {"name": f"{Path(source).stem} cut to latent_dim {dim}"}}
    return save_checkpoint(out, weights, meta)


@torch.no_grad()
def encode_all(model: torch.nn.Module, tokenizer: Tokenizer, smiles: Sequence[str], batch: int = 500) -> torch.Tensor:
    """The codes (n, latent_dim) float32 of ``smiles`` (canonical, readable by ``tokenizer``) under ``model`` in
    eval mode (posterior means)."""
    model.eval()
    codes = []
    for start in range(0, len(smiles), batch):
        tokens, lengths = tokenizer.encode(list(smiles[start: start + batch]))
        codes.append(model.encode({"tokens": tokens, "lengths": lengths}).float())
    return torch.cat(codes)


def standardise_code(weights: dict[str, torch.Tensor], codes: torch.Tensor) -> dict[str, torch.Tensor]:
    """``weights`` of a molecule AAE with the affine map z' = L^-1 (z - m) folded into the encoder's output layer and
    its inverse z = m + L z' into the layers that read the code (the decoder's ``latent_to_hidden`` and, with
    ``latent_input="every_step"``, its first recurrent layer's input; the discriminator's first layer), where m and
    L L^T are the mean and covariance of ``codes`` (n, latent_dim): the new codes of those molecules have mean 0 and
    covariance I (whitening by the Cholesky factor), and every decoded string and discriminator output is what it
    was for the same molecule.

    Raises
    ------
    CheckpointError
        If the codes' covariance is singular (fewer molecules than ``latent_dim`` + 1, or all alike).
    """
    codes = codes.double()
    mean = codes.mean(0)
    factor, info = torch.linalg.cholesky_ex(torch.atleast_2d(torch.cov(codes.T)))
    if info or len(codes) <= codes.shape[1]:
        raise CheckpointError(f"cannot standardise the code on {len(codes)} molecule(s): their codes' covariance "
                              "is singular")
    inverse = torch.linalg.inv(factor)
    out = dict(weights)
    out["encoder.output.weight"] = inverse @ weights["encoder.output.weight"].double()
    out["encoder.output.bias"] = inverse @ (weights["encoder.output.bias"].double() - mean)
    for layer in ("decoder.latent_to_hidden", "discriminator.net.0"):
        weight = weights[f"{layer}.weight"].double()
        out[f"{layer}.weight"] = weight @ factor
        out[f"{layer}.bias"] = weights[f"{layer}.bias"].double() + weight @ mean
    if weights["decoder.rnn.weight_ih_l0"].shape[1] > weights["decoder.embedding.weight"].shape[1]:  # every_step
        weight = weights["decoder.rnn.weight_ih_l0"].double()  # its last latent_dim inputs are the code
        reads = weight[:, -len(mean):]
        out["decoder.rnn.weight_ih_l0"] = torch.cat([weight[:, :-len(mean)], reads @ factor], dim=1)
        out["decoder.rnn.bias_ih_l0"] = weights["decoder.rnn.bias_ih_l0"].double() + reads @ mean
    return {name: value.to(weights[name].dtype) for name, value in out.items()}


def start_training(data: str, smiles_column: str | None, max_molecules: int, family: str, representation: str,
                   size: str, latent_dim: int, prior: str, epochs: int, time_budget_s: float,
                   start_from: str = "scratch") -> TrainingJob:
    """Start training a new model of this session in a worker thread: :func:`training_job` in the session's folder.

    Raises
    ------
    ConfigError, CheckpointError
        As :func:`training_job`.
    jobs.LimitError
        If this session already trains, or the server runs as many trainings as it allows.
    """
    job = training_job(state.session_dir(), len(st.session_state[state.SESSION_MODELS]) + 1, data, smiles_column,
                       max_molecules, family, representation, size, latent_dim, prior, epochs, time_budget_s,
                       start_from)
    return state.start_job(job)


def training_job(folder: Path, number: int, data: str, smiles_column: str | None, max_molecules: int, family: str,
                 representation: str, size: str, latent_dim: int, prior: str, epochs: int, time_budget_s: float,
                 start_from: str = "scratch") -> TrainingJob:
    """The (not yet started) :class:`jobs.TrainingJob` of the Train page's settings, its files in ``folder`` and its
    name ending in ``number``. With ``start_from="shipped"`` the run starts from :func:`warm_start_checkpoint` of
    :func:`warm_start_source` (family, representation, size and prior are then the shipped model's, the learning
    rates :data:`WARM_START_RATES`); a 2-D model keeps a live map of its codes (a checkpoint every 5 steps); every
    run ends by decoding :data:`SAMPLES` prior samples.

    Raises
    ------
    ConfigError
        If the settings do not make a valid configuration (the message names the field), or ``start_from`` is
        "shipped" and the shipped model is not there.
    CheckpointError
        If the shipped model cannot be read, is not an AAE, or has a smaller code than ``latent_dim``.
    """
    train = {"data": data, "smiles_column": smiles_column or None, "max_molecules": max_molecules, "epochs": epochs,
             "batch_size": 64, "time_budget_s": time_budget_s, "log_every": 5, "monitor_samples": 100}
    if latent_dim == 2:
        train["checkpoint_every"] = 5  # each checkpoint may refresh the live map
    if start_from != "shipped":
        model_cfg = from_dict(ModelConfig, {"model": family, "representation": representation,
                                            "latent_dim": latent_dim, "prior": PRIORS[prior], **MODEL_SIZES[size]})
        name = f"{family}-{representation}-z{latent_dim}-{number}"
        return TrainingJob(name, folder / f"{name}.safetensors", model_cfg, from_dict(TrainConfig, train),
                           session_card(name), live_map=latent_dim == 2, samples=SAMPLES)
    source = warm_start_source()
    if source is None:
        raise ConfigError(f"there is no shipped {WARM_START} in {checkpoint_dir()} to start from: start from "
                          "random weights")
    model_cfg = warm_start_config(source, latent_dim)
    name = f"{model_cfg.model}-{model_cfg.representation}-z{latent_dim}-warm-{number}"
    init = folder / f"{name}-init.safetensors"
    train_cfg = from_dict(TrainConfig, train | {"init_from": str(init), **WARM_START_RATES})
    return TrainingJob(name, folder / f"{name}.safetensors", model_cfg, train_cfg,
                       session_card(name, f"trained in the dashboard, starting from {WARM_START}"),
                       prepare=lambda: warm_start_checkpoint(source, model_cfg, init, run_molecules(source, train_cfg)),
                       live_map=latent_dim == 2, samples=SAMPLES)


def run_molecules(source: str | Path, train_cfg: TrainConfig) -> list[str]:
    """The SMILES (canonical) a run of ``train_cfg`` trains on that the tokenizer of the checkpoint ``source`` reads.

    Raises
    ------
    AAELabError
        As ``aae_core.molecules.data.load_molecules`` (e.g. an unreadable file).
    """
    tokenizer = Tokenizer.from_dict(load_checkpoint(source).meta["tokenizer"])
    return load_molecules(train_cfg.data, train_cfg.smiles_column, tokenizer=tokenizer, max_len=tokenizer.max_len,
                          max_rows=train_cfg.max_molecules).smiles


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


def epochs_table(epochs: list[dict]) -> pd.DataFrame:
    """The epoch records of a run as a table: the loss terms and rates to 4 significant digits, validity and
    uniqueness of the run's monitor samples as they are (shares), time to 0.1 s."""
    table = pd.DataFrame(epochs)
    for name in table.columns:
        if name in ("time_s",):
            table[name] = table[name].round(1)
        elif name not in ("epoch", "step", "validity", "uniqueness") and table[name].dtype.kind == "f":
            table[name] = table[name].map(lambda v: float(f"{v:.4g}"))
    return table


# -- the runs the Compare page starts with ----------------------------------------------------------
#: An AAE and a VAE trained on the same data with the same budget (checkpoints/README.md): the Compare page's default.
COMPARE_PAIR = ("aae_small_moses.safetensors", "vae_small_moses.safetensors")


def compare_defaults(choices: dict[str, ModelRef]) -> list[str]:
    """Keys of ``choices`` the Compare page preselects: the shipped :data:`COMPARE_PAIR` (the first two shipped
    models when neither is there), then every model of this session."""
    shipped = [key for key, ref in choices.items() if ref.shipped]
    pair = [key for key in shipped if Path(choices[key].path).name in COMPARE_PAIR]
    return (pair or shipped[:2]) + [key for key, ref in choices.items() if not ref.shipped]


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


#: The x axes runs can be aligned on: column of :func:`loss_table` -> axis title.
ALIGNMENTS = {"step": "training step", "epoch": "epoch", "fraction": "fraction of training (step / last step)",
              "time_s": "wall time (s)"}


def loss_table(histories: dict[str, dict], weight: float = 0.0) -> pd.DataFrame:
    """Step records of several runs in long form: ``run``, ``step``, ``epoch`` (fractional, from the batch
    position), ``fraction`` (step over the run's last recorded step, so runs of any length span [0, 1]),
    ``time_s``, ``term`` (one of :data:`LOSS_TERMS`), ``value`` and ``smoothed`` (:func:`smooth` per run and
    term)."""
    rows = []
    for run, history in histories.items():
        records = history.get("steps", [])
        last = max((record["step"] for record in records), default=1) or 1
        for record in records:
            epoch = record.get("epoch", 0) + record.get("batch", 0) / max(record.get("batches", 1), 1)
            rows += [{"run": run, "step": record["step"], "epoch": epoch, "fraction": record["step"] / last,
                      "time_s": record.get("time_s", np.nan), "term": term, "value": record[term]}
                     for term in LOSS_TERMS if term in record]
    table = pd.DataFrame(rows, columns=["run", "step", "epoch", "fraction", "time_s", "term", "value"])
    table["smoothed"] = table.groupby(["run", "term"], sort=False)["value"].transform(lambda v: smooth(v, weight))
    return table
