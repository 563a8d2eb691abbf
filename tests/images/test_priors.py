"""Swiss roll and categorical priors: sampling, densities, round trip through make_prior."""

from __future__ import annotations

import math

import pytest
import torch

from aae_core.exceptions import ConfigError
from aae_core.priors import CategoricalPrior, SwissRollPrior, make_prior


def test_swiss_roll_samples_and_density():
    prior = SwissRollPrior(radius=4.0, turns=2.0, sigma=0.15)
    z = prior.sample(500, torch.Generator().manual_seed(0))
    assert z.shape == (500, 2) and z.dtype == torch.float32
    assert torch.equal(z, prior.sample(500, torch.Generator().manual_seed(0)))
    on_curve = prior.curve(torch.tensor([0.5]))
    assert prior.log_prob(on_curve) > prior.log_prob(torch.tensor([[4.5, 4.5]])) + 10
    side = torch.linspace(-5.5, 5.5, 111)
    grid = torch.stack(torch.meshgrid(side, side, indexing="xy"), dim=-1).reshape(-1, 2)
    mass = prior.log_prob(grid).exp().sum() * (side[1] - side[0]) ** 2
    assert mass == pytest.approx(1.0, abs=0.02)


def test_categorical_prior():
    prior = CategoricalPrior(4)
    y = prior.sample(1000, torch.Generator().manual_seed(0))
    assert y.shape == (1000, 4) and torch.all(y.sum(1) == 1)
    assert torch.all(y.sum(0) > 200)
    assert prior.log_prob(y[:3]).tolist() == pytest.approx([-math.log(4)] * 3)
    assert prior.log_prob(torch.tensor([[0.5, 0.5, 0.0, 0.0]])).item() == -math.inf


def test_make_prior_round_trip_and_errors():
    for prior in (SwissRollPrior(), CategoricalPrior(3)):
        assert make_prior(prior.to_dict()).to_dict() == prior.to_dict()
    with pytest.raises(ConfigError, match="dim == 2"):
        make_prior({"name": "swiss_roll", "dim": 3})
