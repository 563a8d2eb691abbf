"""Typed configurations. Unknown keys and out-of-range values raise :class:`ConfigError`.

One vocabulary of names across model families: ``latent_dim, hidden_dim, num_layers, dropout,
batch_size, lr, epochs, seed, prior``.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import io
import textwrap
import tokenize
from dataclasses import dataclass, field
from typing import Any

from aae_core.exceptions import ConfigError

CELLS = ("gru", "lstm")
REPRESENTATIONS = ("smiles", "selfies")
LATENT_INPUTS = ("every_step", "initial_state")
ADVERSARIAL_UPDATES = ("separate", "joint")
AUTOCAST = ("auto", "bf16", "off")
#: Molecular properties a model can predict and the app colours by (computed in :mod:`aae_core.molecules.chem`).
PROPERTY_NAMES = ("QED", "logP", "SA", "MW")
#: Most molecules scored at once (evaluate -n, compare -n and --n-held-out): every molecule's fingerprints are held.
MAX_SCORED = 100_000
#: Rows decoded together when sampling; each chunk has its own random stream, so samples depend on it.
DECODE_BATCH = 500


@dataclass
class ModelConfig:
    """Architecture of a sequence autoencoder (defaults: the shipped molecule AAE)."""

    model: str = "aae"  # aae | ae | vae | vae-property (aae_core.registry)
    representation: str = "smiles"  # "smiles" or "selfies"
    max_len: int = 100  # longest molecule in tokens
    latent_dim: int = 64  # size of the latent code z
    embedding_dim: int = 32  # token embedding size
    hidden_dim: int = 256  # encoder hidden units per direction
    num_layers: int = 1  # encoder layers
    bidirectional: bool = True  # the encoder reads each molecule in both directions
    decoder_hidden_dim: int = 512  # decoder hidden units
    decoder_num_layers: int = 1  # decoder layers
    cell: str = "gru"  # "gru" or "lstm"
    latent_input: str = "initial_state"  # decoder sees z only in its "initial_state" (MOSES) or at "every_step"
    dropout: float = 0.0  # dropout probability between the recurrent layers
    discriminator_dims: list[int] = field(default_factory=lambda: [640, 256])  # discriminator hidden layer sizes
    prior: dict[str, Any] = field(
        default_factory=lambda: {"name": "gaussian", "sigma": 1.0})  # p(z): gaussian, mixture, uniform or swiss_roll
    posterior_noise: float = 0.5  # AAE: fixed std of a Gaussian q(z|x) while training (0: deterministic)
    posterior_noise_final: float | None = None  # AAE: std that posterior_noise is annealed to, linearly (None: fixed)
    posterior_noise_anneal_steps: int = 0  # AAE: steps of that linear annealing (after them the std stays final)
    word_dropout: float = 0.0  # share of the decoder's teacher-forced input tokens replaced by <unk> while training
    adversarial_update: str = "separate"  # AAE: "separate" generator phase (paper) or "joint" with reconstruction
    kl_weight: float = 1.0  # VAE: weight of the KL term after annealing (1: the plain ELBO)
    kl_anneal_steps: int = 0  # VAE: steps of linear KL warm-up from 0 to kl_weight (0: none)
    free_bits: float = 0.0  # VAE: nats per latent dimension below which KL is not penalised
    properties: list[str] = field(default_factory=list)  # vae-property: e.g. ["QED", "logP", "SA"]
    property_weight: float = 1.0  # vae-property: weight of the property regression loss

    def validate(self) -> ModelConfig:
        _choice("cell", self.cell, CELLS)
        _choice("representation", self.representation, REPRESENTATIONS)
        _choice("latent_input", self.latent_input, LATENT_INPUTS)
        _choice("adversarial_update", self.adversarial_update, ADVERSARIAL_UPDATES)
        for name in ("max_len", "latent_dim", "embedding_dim", "hidden_dim", "num_layers",
                     "decoder_hidden_dim", "decoder_num_layers"):
            _positive(name, getattr(self, name))
        for name in ("dropout", "word_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("kl_weight", "kl_anneal_steps", "free_bits", "property_weight", "posterior_noise",
                     "posterior_noise_anneal_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if (self.posterior_noise_final is None) != (self.posterior_noise_anneal_steps == 0):
            raise ConfigError("posterior_noise_final and posterior_noise_anneal_steps go together: set both "
                              f"or neither, got {self.posterior_noise_final} and {self.posterior_noise_anneal_steps}")
        if self.posterior_noise_final is not None and self.posterior_noise_final < 0:
            raise ConfigError(f"posterior_noise_final must be >= 0, got {self.posterior_noise_final}")
        self._validate_properties()
        return self

    def _validate_properties(self) -> None:
        if (self.model == "vae-property") != bool(self.properties):
            raise ConfigError(f"properties={self.properties} with model={self.model!r}: the 'vae-property' model "
                              "needs properties (e.g. QED,logP,SA) and the other models take none")
        if not self.properties:
            return
        for name in self.properties:
            _choice("properties", name, PROPERTY_NAMES)
        if len(set(self.properties)) != len(self.properties):
            raise ConfigError(f"properties {self.properties} name one property twice")


@dataclass
class TrainConfig:
    """How to train (defaults: the shipped molecule AAE run)."""

    data: str = "moses-train"  # shipped name or path to a .smi/.csv/.sdf file
    smiles_column: str | None = None  # CSV column holding the SMILES (default: found by name)
    max_molecules: int | None = None  # use only the first N valid molecules
    epochs: int = 4  # passes over the training data
    batch_size: int = 128  # examples per optimizer step
    lr: float = 1e-3  # autoencoder (encoder + decoder) learning rate
    discriminator_lr: float = 2e-4  # discriminator learning rate
    generator_lr: float | None = 1e-3  # encoder-as-generator learning rate; None means discriminator_lr
    pretrain_epochs: int = 0  # autoencoder-only epochs before adversarial training
    grad_clip: float = 5.0  # max gradient norm of each optimizer step
    lr_gamma: float = 0.7  # StepLR decay of every optimizer each epoch after pretraining
    lr_milestones: list[int] = field(default_factory=list)  # epochs (1-based) after which every lr x milestone_gamma
    milestone_gamma: float = 0.1  # factor of each lr_milestones drop (MultiStepLR)
    seed: int = 0  # seed of weights, batches and noise (the same seed repeats a run on the same machine)
    device: str = "auto"  # "auto", "cpu", "cuda", "mps"
    autocast: str = "auto"  # "auto" (bf16 on CPUs/GPUs that support it), "bf16", "off"
    checkpoint_every: int = 500  # steps between checkpoints (one is always written at the end)
    log_every: int = 10  # steps between history records
    monitor_samples: int = 200  # prior samples decoded each epoch for validity/uniqueness
    time_budget_s: float | None = None  # stop (with a checkpoint) after this many seconds
    max_steps: int | None = None  # stop (with a checkpoint) after this many optimizer steps in all
    length_buckets: bool = False  # batches of molecules of similar length (less padding; see Trainer._batches)
    init_from: str | None = None  # fine-tune: start from this checkpoint's weights and tokenizer (same architecture)

    def validate(self) -> TrainConfig:
        _choice("autocast", self.autocast, AUTOCAST)
        for name in ("epochs", "batch_size", "checkpoint_every", "log_every"):
            _positive(name, getattr(self, name))
        if any(not isinstance(m, int) or not 1 <= m < self.epochs for m in self.lr_milestones):
            raise ConfigError(f"lr_milestones must be epochs in [1, epochs={self.epochs}), got {self.lr_milestones}")
        for name in ("lr", "discriminator_lr", "grad_clip", "milestone_gamma"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.pretrain_epochs < 0 or self.pretrain_epochs > self.epochs:
            raise ConfigError(f"pretrain_epochs must be in [0, epochs={self.epochs}], got {self.pretrain_epochs}")
        return self


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not allowed; choose one of {list(choices)}")


def _positive(name: str, value) -> None:
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def from_dict(cls, data: dict[str, Any] | None):
    """Build dataclass ``cls`` from ``data``; raises :class:`ConfigError` naming unknown keys."""
    data = dict(data or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} key(s) {unknown}; known keys: {sorted(known)}")
    return cls(**data).validate()


def to_dict(config) -> dict[str, Any]:
    return dataclasses.asdict(config)


@functools.cache
def field_help(cls) -> dict[str, str]:
    """The comment after each field of dataclass ``cls`` in its source, by field name (``{}`` where the source is
    not available): one place for a field's meaning, read by the command line's ``--help``.
    Cached per class: read it, do not change it."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    comments = {}
    for node in ast.parse(textwrap.dedent("\n".join(lines))).body[0].body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            tokens = tokenize.generate_tokens(io.StringIO(lines[node.end_lineno - 1]).readline)
            comment = next((t.string for t in tokens if t.type == tokenize.COMMENT), None)
            if comment:
                comments[node.target.id] = comment.lstrip("#").strip()
    return comments
