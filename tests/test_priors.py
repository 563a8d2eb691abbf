import math

import pytest
import torch

from aae_core.exceptions import ConfigError
from aae_core.priors import GaussianPrior, MixturePrior, UniformPrior, make_prior


def test_gaussian_moments_and_density():
    prior = GaussianPrior(3, sigma=2.0)
    z = prior.sample(20000, torch.Generator().manual_seed(0))
    assert z.shape == (20000, 3) and z.dtype == torch.float32
    assert z.std().item() == pytest.approx(2.0, rel=0.02)
    assert prior.log_prob(torch.zeros(1, 3)).item() == pytest.approx(-3 * math.log(2 * math.sqrt(2 * math.pi)))


def test_mixture_means_on_circle_and_components():
    prior = MixturePrior(2, k=4, radius=3.0, sigma=0.1)
    assert torch.allclose(prior.means.norm(dim=1), torch.full((4,), 3.0))
    z = prior.sample(8, torch.Generator().manual_seed(0), components=torch.tensor([1] * 8))
    assert torch.allclose(z.mean(0), prior.means[1], atol=0.1)
    density = prior.log_prob(prior.means[:1]).exp().item()
    assert density == pytest.approx(1 / 4 / (2 * math.pi * 0.01), rel=1e-3)


def test_uniform_support():
    prior = UniformPrior(2, -1, 3)
    z = prior.sample(1000)
    assert z.min() >= -1 and z.max() <= 3
    assert prior.log_prob(torch.tensor([[0.0, 0.0], [5.0, 0.0]])).tolist() == [pytest.approx(-math.log(16)), -math.inf]


def test_make_prior_round_trip_and_errors():
    prior = make_prior({"name": "mixture", "dim": 5, "k": 3})
    assert make_prior(prior.to_dict()).to_dict() == prior.to_dict()
    with pytest.raises(ConfigError, match="unknown prior 'cauchy'"):
        make_prior({"name": "cauchy", "dim": 2})
    with pytest.raises(ConfigError, match="bad parameters"):
        make_prior({"name": "gaussian", "dim": 2, "scale": 1})
    with pytest.raises(ConfigError, match="sigma must be > 0"):
        GaussianPrior(2, sigma=0)
