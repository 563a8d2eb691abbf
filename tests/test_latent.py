"""Tests of aae_core.latent: projections, the prior in the projected plane, 1-D divergences."""

import math

import numpy as np
import pytest
import torch

from aae_core import latent
from aae_core.priors import GaussianPrior, MixturePrior, UniformPrior

torch.set_num_threads(1)


@pytest.fixture
def codes() -> np.ndarray:
    """300 codes in 8-D with most variance along the first two axes, shifted off the origin."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 8)) * np.array([3.0, 2.0] + [0.3] * 6) + 0.5
    return z.astype(np.float32)


def test_available_methods():
    assert latent.available_methods(1) == []
    assert latent.available_methods(2) == ["raw"]
    assert latent.available_methods(64) == ["pca", "umap", "tsne"]


def test_raw_projection_keeps_2d_codes():
    z = np.arange(12, dtype=np.float32).reshape(6, 2)
    view = latent.project(z, "raw", extra=z[:2])
    np.testing.assert_array_equal(view.coords, z)
    np.testing.assert_array_equal(view.extra, z[:2])
    assert view.linear


def test_pca_projection_shapes_labels_and_transform(codes):
    view = latent.project(codes, "pca", extra=codes[:4])
    assert view.coords.shape == (300, 2) and view.extra.shape == (4, 2)
    np.testing.assert_allclose(view.extra, view.coords[:4], atol=1e-4)
    np.testing.assert_allclose(view.transform(torch.from_numpy(codes[5])), view.coords[5:6], atol=1e-4)
    assert view.axis_labels[0].startswith("PC1 (") and "variance" in view.axis_labels[0]
    again = latent.project(codes, "pca")
    np.testing.assert_allclose(again.coords, view.coords)  # deterministic, independent of extra


def test_tsne_embeds_extra_jointly_and_refuses_transform(codes):
    view = latent.project(codes[:60], "tsne", extra=codes[60:63], seed=1)
    assert view.coords.shape == (60, 2) and view.extra.shape == (3, 2)
    assert np.isfinite(view.coords).all()
    with pytest.raises(ValueError, match="jointly"):
        view.transform(codes[:1])


@pytest.mark.slow
def test_umap_embeds_extra_jointly_and_shows_an_island_where_there_is_one(codes):
    rng = np.random.default_rng(1)
    far = (rng.normal(size=(60, 8)) + 20).astype(np.float32)  # unlike every code: must not be drawn among them
    view = latent.project(codes[:120], "umap", extra=np.vstack([far, codes[:2]]), seed=0)
    assert view.coords.shape == (120, 2) and view.extra.shape == (62, 2) and not view.linear
    spread = np.linalg.norm(view.coords - view.coords.mean(0), axis=1).max()
    assert np.linalg.norm(view.extra[:60].mean(0) - view.coords.mean(0)) > spread  # the island is its own
    assert np.linalg.norm(view.extra[60:] - view.coords[:2], axis=1).max() < spread / 2  # copies land on their codes
    again = latent.project(codes[:120], "umap", extra=np.vstack([far, codes[:2]]), seed=0)
    np.testing.assert_allclose(again.coords, view.coords)  # deterministic for a seed
    with pytest.raises(ValueError, match="jointly"):
        view.transform(codes[:1])


@pytest.mark.parametrize(("z", "method", "message"), [
    (np.zeros((5, 1)), "pca", "1-D latent space"),
    (np.zeros((5, 8)), "raw", "choose one of"),
    (np.zeros((5, 8)), "spectral", "choose one of"),
    (np.zeros((2, 8)), "pca", "at least 3"),
])
def test_project_rejects_bad_input(z, method, message):
    with pytest.raises(ValueError, match=message):
        latent.project(z, method)


def test_pca_image_of_gaussian_prior_is_exact(codes):
    """Projected prior samples have the overlay's centre and an isotropic covariance sigma^2 I_2."""
    prior = GaussianPrior(8, sigma=1.5)
    view = latent.project(codes, "pca")
    overlay = latent.prior_overlay(prior, view)
    samples = view.transform(prior.sample(20_000, torch.Generator().manual_seed(0)))
    np.testing.assert_allclose(samples.mean(axis=0), overlay.centres[0], atol=0.05)
    np.testing.assert_allclose(np.cov(samples.T), 1.5**2 * np.eye(2), atol=0.08)
    assert overlay.exact and [label for label, _ in overlay.rings] == ["1σ (39%)", "2σ (86%)", "3σ (99%)"]
    ring_radius = np.linalg.norm(overlay.rings[1][1] - overlay.centres[0], axis=1)
    np.testing.assert_allclose(ring_radius, 3.0, rtol=1e-6)
    dx, dy = np.diff(overlay.x)[0], np.diff(overlay.y)[0]
    assert overlay.density.sum() * dx * dy == pytest.approx(1.0, abs=0.02)  # grid covers > 3 sigma
    assert overlay.density.shape == (len(overlay.y), len(overlay.x))


def test_mixture_overlay_has_one_centre_and_ring_set_per_component():
    prior = MixturePrior(2, k=10, radius=4.0, sigma=0.5)
    view = latent.project(prior.sample(500, torch.Generator().manual_seed(0)), "raw")
    overlay = latent.prior_overlay(prior, view)
    np.testing.assert_allclose(overlay.centres, prior.means.numpy(), atol=1e-6)
    assert len(overlay.rings) == 10 * len(latent.RING_SIGMAS)


def test_uniform_overlay_raw_is_exact_square_and_kde_otherwise(codes):
    square = latent.prior_overlay(UniformPrior(2), latent.project(codes[:, :2], "raw"))
    assert square.exact and square.rings[0][0] == "support"
    assert square.density.max() == pytest.approx(0.25)
    prior = UniformPrior(8)
    view = latent.project(codes, "pca")
    with pytest.raises(ValueError, match="prior_coords"):
        latent.prior_overlay(prior, view)
    kde = latent.prior_overlay(prior, view, prior_coords=view.transform(prior.sample(400)))
    assert not kde.exact and kde.rings == [] and np.isfinite(kde.density).all()


def test_gaussian_divergences_match_closed_forms():
    curve = latent.divergence_curve("gaussian", 1.0, np.array([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(curve["KL"], [0.0, 0.5, 2.0], atol=1e-3)  # shift^2 / (2 sigma^2)
    np.testing.assert_allclose(curve["W1"], [0.0, 1.0, 2.0], atol=1e-2)
    assert curve["JS"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert (np.diff(curve["JS"]) > 0).all() and (curve["JS"] < math.log(2)).all()
    assert list(curve.columns) == ["shift", "KL", "JS", "W1", "dKL", "dJS", "dW1"]


def test_disjoint_uniforms_kl_infinite_js_saturates_w1_linear():
    """Arjovsky et al. 2017, Example 1: KL = inf, JS = log 2 with zero slope, W1 = |shift|."""
    curve = latent.divergence_curve("uniform", 0.5, np.linspace(1.0, 3.0, 5))
    assert np.isinf(curve["KL"]).all()
    np.testing.assert_allclose(curve["JS"], math.log(2), atol=1e-9)
    np.testing.assert_allclose(curve["dJS"], 0.0, atol=1e-9)
    np.testing.assert_allclose(curve["W1"], curve["shift"], rtol=1e-2)
    np.testing.assert_allclose(curve["dW1"], 1.0, rtol=1e-2)


def test_shifted_pair_validates():
    x = latent.divergence_grid(1.0, 2.0)
    p, q = latent.shifted_pair("uniform", 1.0, 0.5, x)
    assert p.shape == q.shape == x.shape
    assert p.sum() * (x[1] - x[0]) == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError, match="choose one of"):
        latent.shifted_pair("cauchy", 1.0, 0.0, x)
    with pytest.raises(ValueError, match="width"):
        latent.shifted_pair("gaussian", 0.0, 0.0, x)


def test_mmd_matches_the_unbiased_estimator_by_hand():
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [3.0]])
    k = lambda a, b: torch.exp(torch.tensor(-((a - b) ** 2) / 2.0)).item()  # noqa: E731 (bandwidth 1)
    expected = (2 * k(0, 1)) / 2 + (2 * k(0, 3)) / 2 - 2 * (k(0, 0) + k(0, 3) + k(1, 0) + k(1, 3)) / 4
    assert latent.rbf_mmd2(x, y, 1.0) == pytest.approx(expected)


def test_mmd_separates_shifted_samples_and_not_equal_ones():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 4, generator=g), torch.randn(400, 4, generator=g)
    bandwidth = latent.median_distance(a)
    assert abs(latent.rbf_mmd2(a, b, bandwidth)) < 0.01
    assert latent.rbf_mmd2(a, b + 1.0, bandwidth) > 0.1
    assert latent.rbf_mmd2(a, b + 1.0, bandwidth) == pytest.approx(latent.rbf_mmd2(b + 1.0, a, bandwidth))
