"""Model families by name, and loading any saved model back from its checkpoint.

``MODELS[name](config, vocab_size) -> nn.Module``. A checkpoint stores its ``model_config`` and
``tokenizer``, so :func:`load_model` rebuilds the right model without the caller knowing its family.
Image checkpoints (meta ``modality: "images"``) come back through :func:`aae_core.images.load_image_model`
from ``aae_core.images.IMAGE_MODELS``; their ``LoadedModel`` has ``tokenizer=None`` and an ``ImageConfig``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from aae_core.checkpoints import load_checkpoint
from aae_core.config import ModelConfig, from_dict
from aae_core.data.tokenizers import Tokenizer
from aae_core.exceptions import CheckpointError, ConfigError
from aae_core.models.aae import AdversarialAutoencoder
from aae_core.models.autoencoder import Autoencoder
from aae_core.models.discriminator import Discriminator
from aae_core.models.sequence import SequenceDecoder, SequenceEncoder
from aae_core.models.vae import PropertyHead, VariationalAutoencoder
from aae_core.priors import GaussianPrior, make_prior


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


@dataclass
class LoadedModel:
    """A trained model ready for generation, with everything its checkpoint says about it."""

    model: nn.Module
    tokenizer: Tokenizer
    config: ModelConfig
    meta: dict
    path: Path

    @property
    def name(self) -> str:
        return self.meta.get("card", {}).get("name") or self.path.stem

    @property
    def history(self) -> dict:
        return self.meta.get("history", {"steps": [], "epochs": []})


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a model from a checkpoint, in eval mode on ``device``.

    Raises
    ------
    CheckpointError
        If the file is not a valid checkpoint or its weights do not fit its own configuration.
    """
    ckpt = load_checkpoint(path)
    if ckpt.meta.get("modality") == "images":  # image models: aae_core.images.IMAGE_MODELS
        from aae_core.images import load_image_model

        try:
            return load_image_model(ckpt, Path(path), device)
        except (KeyError, ValueError, RuntimeError) as err:
            raise CheckpointError(f"{Path(path).name} cannot be rebuilt into an image model: {err}") from err
    try:
        config = from_dict(ModelConfig, ckpt.meta["model_config"])
        tokenizer = Tokenizer.from_dict(ckpt.meta["tokenizer"])
        model = build_model(config, tokenizer.vocab_size)
        model.load_state_dict(ckpt.model_state)
    except (KeyError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{Path(path).name} cannot be rebuilt into a model: {err}") from err
    return LoadedModel(model.to(device).eval(), tokenizer, config, ckpt.meta, Path(path))
