"""Latent quality: MMD, moment gaps, reconstruction accuracy, property R^2."""

import pytest
import torch

from aae_core.config import ModelConfig, TrainConfig
from aae_core.exceptions import DataError
from aae_core.generation import MoleculeGenerator
from aae_core.latent_quality import (
    held_out_molecules,
    latent_figure,
    latent_quality,
    moment_gaps,
    token_accuracy,
)
from aae_core.pipeline import train_molecules
from aae_core.registry import load_model

torch.set_num_threads(1)


def test_moment_gaps():
    g = torch.Generator().manual_seed(0)
    prior = torch.randn(2000, 3, generator=g)
    same = moment_gaps(prior, prior)
    assert same["mean_gap"] == 0 and same["cov_gap"] == 0
    shifted = moment_gaps(2 * prior + torch.tensor([3.0, 0.0, 4.0]), prior)
    assert shifted["mean_gap"] == pytest.approx(5.0, abs=0.2)
    assert shifted["cov_gap"] == pytest.approx(3.0, abs=0.2)  # ||4I - I|| / ||I||
    assert shifted["posterior_variance"] == pytest.approx(4.0, rel=0.1)


def test_token_accuracy_counts_target_positions_only():
    targets = torch.tensor([[5, 6, 2, 0], [7, 2, 0, 0]])  # <eos> = 2 counts, padding does not
    decoded = torch.tensor([[5, 9, 2], [7, 2, 0]])
    assert token_accuracy(decoded, targets) == pytest.approx(4 / 5)
    assert token_accuracy(torch.tensor([[5]]), torch.tensor([[5, 6, 2]])) == pytest.approx(1 / 3)


@pytest.fixture(scope="module")
def property_vae(tmp_path_factory):
    path = tmp_path_factory.mktemp("lq") / "vae_property.safetensors"
    cfg = ModelConfig(model="vae-property", properties=["QED", "logP"], hidden_dim=64, decoder_hidden_dim=128,
                      latent_dim=16, discriminator_dims=[64])
    train_molecules(cfg, TrainConfig(max_molecules=64, batch_size=32, epochs=1, monitor_samples=2), path)
    return load_model(path)


def test_latent_quality_of_a_property_vae(property_vae):
    smiles = held_out_molecules(property_vae, "moses-test", 30)
    assert 20 <= len(smiles) <= 30
    quality = latent_quality(property_vae, smiles, seed=0)
    m = quality.metrics
    assert quality.posterior.shape == quality.prior.shape == (len(smiles), 16)
    assert {"mmd2", "mean_gap", "cov_gap", "exact_match", "token_accuracy", "r2_QED", "r2_logP"} <= set(m)
    assert 0 <= m["exact_match"] <= 1 and 0 <= m["token_accuracy"] <= 1
    assert m["r2_QED"] <= 1 and m["prior_variance"] == pytest.approx(1.0, abs=0.6)
    assert latent_quality(property_vae, smiles, seed=0).metrics == m  # deterministic
    means = MoleculeGenerator(property_vae).encode(smiles)
    assert m["posterior_variance"] > float(means.var(0).mean())  # draws from q(z|x), not the means
    assert len(latent_figure(quality).data) == 6


def test_latent_quality_without_property_head_and_bad_input(trained_checkpoint):
    loaded = load_model(trained_checkpoint)
    metrics = latent_quality(loaded, ["CCO", "CCN", "c1ccccc1"]).metrics
    assert not any(k.startswith("r2_") for k in metrics) and metrics["n"] == 3
    with pytest.raises(DataError, match="at least 2"):
        latent_quality(loaded, ["CCO"])
