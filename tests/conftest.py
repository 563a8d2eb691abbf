"""Shared fixtures: tiny configurations that train in seconds on one CPU thread."""

from __future__ import annotations

import pytest
import torch

from aae_core.config import ModelConfig, TrainConfig

torch.set_num_threads(1)


def tiny_model_config(**overrides) -> ModelConfig:
    values = dict(hidden_dim=32, decoder_hidden_dim=64, latent_dim=8, embedding_dim=16, discriminator_dims=[32])
    return ModelConfig(**{**values, **overrides})


def tiny_train_config(**overrides) -> TrainConfig:
    values = dict(max_molecules=64, batch_size=32, epochs=1, monitor_samples=8, log_every=1, checkpoint_every=1000)
    return TrainConfig(**{**values, **overrides})


@pytest.fixture
def model_config() -> ModelConfig:
    return tiny_model_config()


@pytest.fixture
def train_config() -> TrainConfig:
    return tiny_train_config()


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory):
    """A tiny AAE trained for two epochs on 64 MOSES molecules (about a second)."""
    from aae_core.molecules.pipeline import train_molecules

    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    train_molecules(tiny_model_config(), tiny_train_config(epochs=2), path, card={"name": "tiny"})
    return path
