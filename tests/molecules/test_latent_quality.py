"""Latent quality: MMD, moment gaps, reconstruction accuracy, property R^2."""

import numpy as np
import pytest
import torch

from aae_core.config import ModelConfig, TrainConfig
from aae_core.exceptions import DataError
from aae_core.molecules.data import load_molecules
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.molecules.latent_quality import (
    ANCHORS,
    fingerprints,
    frontier_figure,
    frontier_point,
    held_out_molecules,
    latent_figure,
    latent_quality,
    moment_gaps,
    neighbour_similarity,
    tanimoto,
    token_accuracy,
    two_sample_auc,
)
from aae_core.molecules.pipeline import train_molecules
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
    assert {"mmd2", "mean_gap", "cov_gap", "exact_match", "token_accuracy", "r2_QED", "r2_logP", "prior_auc",
            "reconstruction_tanimoto"} <= set(m)
    assert m["exact_match"] <= m["reconstruction_tanimoto"] <= 1
    assert 0 <= m["exact_match"] <= 1 and 0 <= m["token_accuracy"] <= 1
    assert m["r2_QED"] <= 1 and m["prior_variance"] == pytest.approx(1.0, abs=0.6)
    assert latent_quality(property_vae, smiles, seed=0).metrics == pytest.approx(m, nan_ok=True)  # deterministic
    means = MoleculeGenerator(property_vae).encode(smiles)
    assert m["posterior_variance"] > float(means.var(0).mean())  # draws from q(z|x), not the means
    assert len(latent_figure(quality).data) == 6


def test_latent_quality_without_property_head_and_bad_input(trained_checkpoint):
    loaded = load_model(trained_checkpoint)
    metrics = latent_quality(loaded, ["CCO", "CCN", "c1ccccc1"]).metrics
    assert not any(k.startswith("r2_") for k in metrics) and metrics["n"] == 3
    with pytest.raises(DataError, match="at least 2"):
        latent_quality(loaded, ["CCO"])


def test_tanimoto_by_hand():
    a = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 1, 0]], dtype=np.uint8)
    b = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0]], dtype=np.uint8)
    assert tanimoto(a, b).tolist() == [pytest.approx(1 / 3), 0.0, 1.0]
    bits = fingerprints(["CCO", "not a smiles", "CCO"])
    assert bits.shape == (3, 2048) and bits[1].sum() == 0 and tanimoto(bits[0], bits[2]) == 1.0


def test_two_sample_auc_is_a_half_for_the_prior_itself_and_one_for_a_shift_or_an_island():
    g = torch.Generator().manual_seed(0)
    prior = torch.randn(1000, 8, generator=g)
    same = two_sample_auc(torch.randn(1000, 8, generator=g), prior)
    assert 0.45 < same["prior_auc_logistic"] < 0.56 and 0.44 < same["prior_auc_knn"] < 0.56
    shifted = two_sample_auc(torch.randn(1000, 8, generator=g) + 1.5, prior)
    assert shifted["prior_auc_logistic"] > 0.95
    island = two_sample_auc(0.2 * torch.randn(1000, 8, generator=g), prior)  # same mean, a clump in the middle
    assert island["prior_auc_knn"] > 0.9 and island["prior_auc"] == island["prior_auc_knn"]


def test_neighbour_similarity_sees_codes_that_carry_chemistry():
    pool = load_molecules("moses-test", max_rows=400).smiles
    chemical = torch.from_numpy(fingerprints(pool).astype(np.float64))  # codes: the fingerprints themselves
    random = torch.randn(len(pool), 16, generator=torch.Generator().manual_seed(0))
    query = slice(0, 50)
    meaningful = neighbour_similarity(pool[query], chemical[query], pool, chemical)
    meaningless = neighbour_similarity(pool[query], random[query], pool, random)
    assert meaningful["neighbour_ratio"] > 2 and 0.7 < meaningless["neighbour_ratio"] < 1.3
    assert meaningful["random_tanimoto"] == meaningless["random_tanimoto"]  # same seed, same random draws
    with pytest.raises(DataError, match="at least 6"):
        neighbour_similarity(pool[:1], chemical[:1], pool[:5], chemical[:5])


def test_frontier_points_come_from_the_card_and_the_figure_labels_every_model_and_anchor():
    measured = {"card": {"latent_space": {"figures": {"valid": 0.9, "exact_match": 0.6, "FCD/Test": 1.0}}}}
    assert frontier_point(measured) == (0.9, 0.6)
    assert frontier_point({"card": {"name": "never measured"}}) is None
    shipped = {"card": {"metrics": {"valid": 0.86, "reconstruction accuracy": 0.11}}}
    assert frontier_point(shipped) == (0.86, 0.11)
    compared = {"card": {"metrics": {"valid": 0.5}, "evaluation": {"metrics": {"valid": 0.4, "exact_match": 0.2}}}}
    assert frontier_point(compared) == (0.4, 0.2)  # the first source holding both numbers
    assert frontier_point({"card": {**measured["card"], **shipped["card"]}}) == (0.9, 0.6)  # the bench comes first
    fig = frontier_figure({"mine": (0.9, 0.6), "other": (0.1, 0.5)})
    labels = [label for trace in fig.data for label in trace.text]
    assert labels == [*ANCHORS, "mine", "other"]
