"""Molecule model families by name (AAE, AE, VAE, VAE with a property head), built from a :class:`ModelConfig`
and a vocabulary size, and loading a molecule checkpoint back (through :func:`aae_core.registry.load_model`).

``MODELS[name](config, vocab_size) -> nn.Module``; a new sequence family goes here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from aae_core.checkpoints import Checkpoint
from aae_core.config import ModelConfig, from_dict
from aae_core.exceptions import ConfigError
from aae_core.models.aae import AdversarialAutoencoder
from aae_core.models.autoencoder import Autoencoder
from aae_core.models.discriminator import Discriminator
from aae_core.molecules.sequence import SequenceDecoder, SequenceEncoder
from aae_core.molecules.tokenizers import Tokenizer
from aae_core.molecules.vae import PropertyHead, VariationalAutoencoder
from aae_core.priors import GaussianPrior, make_prior
from aae_core.registry import LoadedModel


def sequence_parts(cfg: ModelConfig, vocab_size: int, encoder_out: int) -> tuple[SequenceEncoder, SequenceDecoder]:
    """Encoder (to ``encoder_out`` features) and decoder shared by every sequence model family."""
    encoder = SequenceEncoder(vocab_size, cfg.embedding_dim, cfg.hidden_dim, cfg.num_layers, cfg.cell,
                              cfg.bidirectional, cfg.dropout, encoder_out)
    decoder = SequenceDecoder(vocab_size, cfg.embedding_dim, cfg.decoder_hidden_dim, cfg.decoder_num_layers,
                              cfg.cell, cfg.dropout, cfg.latent_dim, cfg.latent_input, cfg.word_dropout)
    return encoder, decoder


def build_aae(cfg: ModelConfig, vocab_size: int) -> AdversarialAutoencoder:
    """Sequence AAE (Makhzani et al. 2015) with the MOSES-style encoder/decoder."""
    encoder, decoder = sequence_parts(cfg, vocab_size, cfg.latent_dim)
    prior = make_prior({**cfg.prior, "dim": cfg.latent_dim})
    return AdversarialAutoencoder(encoder, decoder, Discriminator(cfg.latent_dim, cfg.discriminator_dims), prior,
                                  posterior_noise=cfg.posterior_noise, joint=cfg.adversarial_update == "joint",
                                  noise_schedule=(cfg.posterior_noise_final, cfg.posterior_noise_anneal_steps))


def build_ae(cfg: ModelConfig, vocab_size: int) -> Autoencoder:
    """Sequence autoencoder trained on reconstruction only; samples are drawn from ``cfg.prior``."""
    encoder, decoder = sequence_parts(cfg, vocab_size, cfg.latent_dim)
    return Autoencoder(encoder, decoder, make_prior({**cfg.prior, "dim": cfg.latent_dim}))


def build_vae(cfg: ModelConfig, vocab_size: int) -> VariationalAutoencoder:
    """Sequence VAE (Kingma & Welling 2014), with a property head when ``cfg.properties`` is set
    (Gomez-Bombarelli et al. 2018). Raises :class:`ConfigError` for a prior other than N(0, I)."""
    prior = make_prior({**cfg.prior, "dim": cfg.latent_dim})
    if not (isinstance(prior, GaussianPrior) and prior.sigma == 1.0):
        raise ConfigError(f"the VAE's KL term is against N(0, I); leave prior at its default, got {cfg.prior}")
    encoder, decoder = sequence_parts(cfg, vocab_size, 2 * cfg.latent_dim)
    head = PropertyHead(cfg.latent_dim, len(cfg.properties), cfg.hidden_dim) if cfg.properties else None
    return VariationalAutoencoder(encoder, decoder, cfg.latent_dim, cfg.kl_weight, cfg.kl_anneal_steps,
                                  cfg.free_bits, head, cfg.property_weight)


MODELS: dict[str, Callable[[ModelConfig, int], nn.Module]] = {
    "aae": build_aae, "ae": build_ae, "vae": build_vae, "vae-property": build_vae,
}


def build_model(cfg: ModelConfig, vocab_size: int) -> nn.Module:
    """Build the model family ``cfg.model``. Raises :class:`ConfigError` for an unknown family."""
    if cfg.model not in MODELS:
        raise ConfigError(f"unknown model {cfg.model!r}; choose one of {sorted(MODELS)}")
    return MODELS[cfg.model](cfg, vocab_size)




def load_molecule_model(ckpt: Checkpoint, path: Path, device: str | torch.device) -> LoadedModel:
    """Rebuild the molecule model of ``ckpt`` (read from ``path``) in eval mode on ``device``; raises
    ``KeyError``, ``ValueError`` or ``RuntimeError`` (turned into :class:`CheckpointError` by
    :func:`aae_core.registry.load_model`) if its configuration, tokenizer or weights do not fit."""
    config = from_dict(ModelConfig, ckpt.meta["model_config"])
    tokenizer = Tokenizer.from_dict(ckpt.meta["tokenizer"])
    model = build_model(config, tokenizer.vocab_size)
    model.load_state_dict(ckpt.model_state)
    return LoadedModel(model.to(device).eval(), tokenizer, config, ckpt.meta, path)
