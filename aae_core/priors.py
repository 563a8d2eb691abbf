"""Priors p(z) that the adversarial autoencoder matches its aggregate posterior q(z) to.

Each prior has ``sample(n, generator) -> (n, dim)`` float32 samples and ``log_prob(z) -> (n,)``.
Makhzani et al. 2015 ("Adversarial Autoencoders", arXiv:1511.05644) use a Gaussian, a mixture of 10
2-D Gaussians, a swiss roll and (for class codes) a categorical; :func:`make_prior` builds one from a plain
dict (as stored in configs).
"""

from __future__ import annotations

import math

import torch

from aae_core.exceptions import ConfigError


class Prior:
    """Interface: a distribution over ``dim``-dimensional latent codes."""

    name = "prior"

    def __init__(self, dim: int):
        if dim < 1:
            raise ConfigError(f"latent dimension must be >= 1, got {dim}")
        self.dim = dim

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples, shape (n, dim), float32."""
        raise NotImplementedError

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Log density of each row of ``z`` (n, dim) -> (n,)."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        """Constructor arguments, so that ``make_prior(prior.to_dict())`` rebuilds it."""
        raise NotImplementedError


class GaussianPrior(Prior):
    """Isotropic Gaussian N(0, sigma^2 I)."""

    name = "gaussian"

    def __init__(self, dim: int, sigma: float = 1.0):
        super().__init__(dim)
        if sigma <= 0:
            raise ConfigError(f"gaussian prior sigma must be > 0, got {sigma}")
        self.sigma = float(sigma)

    def sample(self, n, generator=None):
        return torch.randn(n, self.dim, generator=generator) * self.sigma

    def log_prob(self, z):
        return torch.distributions.Normal(0.0, self.sigma).log_prob(z.float()).sum(-1)

    def to_dict(self):
        return {"name": self.name, "dim": self.dim, "sigma": self.sigma}


class MixturePrior(Prior):
    """Equal-weight mixture of ``k`` isotropic Gaussians, std ``sigma``.

    In 2-D the means lie evenly on a circle of radius ``radius`` (the 10-component prior of Makhzani et
    al. 2015, Fig. 4); in higher dimensions component ``i`` sits at ``radius`` times the unit vector of
    axis ``i mod dim``, alternating sign every ``dim`` components.
    """

    name = "mixture"

    def __init__(self, dim: int, k: int = 10, radius: float = 4.0, sigma: float = 0.5):
        super().__init__(dim)
        if k < 1 or radius < 0 or sigma <= 0:
            raise ConfigError(f"mixture prior needs k >= 1, radius >= 0, sigma > 0; got {k}, {radius}, {sigma}")
        self.k, self.radius, self.sigma = int(k), float(radius), float(sigma)
        self.means = self._means()

    def _means(self) -> torch.Tensor:
        if self.dim == 2:
            angle = torch.arange(self.k, dtype=torch.float32) * (2 * math.pi / self.k)
            return self.radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
        means = torch.zeros(self.k, self.dim)
        for i in range(self.k):
            means[i, i % self.dim] = self.radius * (1 if (i // self.dim) % 2 == 0 else -1)
        return means

    def sample(self, n, generator=None, components: torch.Tensor | None = None):
        """Samples, shape (n, dim); ``components`` (n,) long picks the component of each row
        (used by the label-conditioned prior), otherwise components are drawn uniformly."""
        if components is None:
            components = torch.randint(self.k, (n,), generator=generator)
        noise = torch.randn(n, self.dim, generator=generator) * self.sigma
        return self.means[components] + noise

    def log_prob(self, z):
        normal = torch.distributions.Normal(0.0, self.sigma)
        per_component = normal.log_prob(z.float()[:, None, :] - self.means[None]).sum(-1)
        return torch.logsumexp(per_component, dim=1) - math.log(self.k)

    def to_dict(self):
        return {"name": self.name, "dim": self.dim, "k": self.k, "radius": self.radius, "sigma": self.sigma}


class UniformPrior(Prior):
    """Uniform on the cube [low, high]^dim."""

    name = "uniform"

    def __init__(self, dim: int, low: float = -1.0, high: float = 1.0):
        super().__init__(dim)
        if not high > low:
            raise ConfigError(f"uniform prior needs high > low, got low={low}, high={high}")
        self.low, self.high = float(low), float(high)

    def sample(self, n, generator=None):
        return self.low + (self.high - self.low) * torch.rand(n, self.dim, generator=generator)

    def log_prob(self, z):
        inside = ((z >= self.low) & (z <= self.high)).all(-1)
        density = -self.dim * math.log(self.high - self.low)
        return torch.where(inside, torch.full(inside.shape, density), torch.full(inside.shape, -math.inf))

    def to_dict(self):
        return {"name": self.name, "dim": self.dim, "low": self.low, "high": self.high}


class SwissRollPrior(Prior):
    """2-D swiss roll (Makhzani et al. 2015, Fig. 2 and 6b): the spiral c(u) = radius * sqrt(u) * (cos a, sin a),
    a = 2 pi turns sqrt(u), u ~ U(0, 1), blurred by N(0, sigma^2 I).

    ``turns`` full turns of the spiral; ``log_prob`` integrates the noise over u numerically (midpoint rule
    on ``QUADRATURE`` points), exact up to that quadrature.
    """

    name = "swiss_roll"
    QUADRATURE = 512

    def __init__(self, dim: int = 2, radius: float = 4.0, turns: float = 2.0, sigma: float = 0.15):
        super().__init__(dim)
        if dim != 2 or radius <= 0 or turns <= 0 or sigma <= 0:
            raise ConfigError("swiss roll prior needs dim == 2 and radius, turns, sigma > 0; "
                              f"got dim={dim}, radius={radius}, turns={turns}, sigma={sigma}")
        self.radius, self.turns, self.sigma = float(radius), float(turns), float(sigma)

    def curve(self, u: torch.Tensor) -> torch.Tensor:
        """Points of the noiseless spiral at positions ``u`` (n,) in [0, 1] -> (n, 2)."""
        root = u.float().sqrt()
        angle = 2 * math.pi * self.turns * root
        return self.radius * root[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)

    def sample(self, n, generator=None):
        u = torch.rand(n, generator=generator)
        return self.curve(u) + torch.randn(n, 2, generator=generator) * self.sigma

    def log_prob(self, z):
        u = (torch.arange(self.QUADRATURE, dtype=torch.float32) + 0.5) / self.QUADRATURE
        normal = torch.distributions.Normal(0.0, self.sigma)
        per_point = normal.log_prob(z.float()[:, None, :] - self.curve(u)[None]).sum(-1)
        return torch.logsumexp(per_point, dim=1) - math.log(self.QUADRATURE)

    def to_dict(self):
        return {"name": self.name, "dim": self.dim, "radius": self.radius, "turns": self.turns, "sigma": self.sigma}


class CategoricalPrior(Prior):
    """Uniform categorical over ``dim`` classes as one-hot vectors: the prior of the class code y of the
    semi-supervised AAE and of unsupervised clustering (Makhzani et al. 2015, Sec. 5 and 6)."""

    name = "categorical"

    def sample(self, n, generator=None):
        classes = torch.randint(self.dim, (n,), generator=generator)
        return torch.nn.functional.one_hot(classes, self.dim).float()

    def log_prob(self, z):
        one_hot = ((z == 0) | (z == 1)).all(-1) & (z.sum(-1) == 1)
        value = -math.log(self.dim)
        return torch.where(one_hot, torch.full(one_hot.shape, value), torch.full(one_hot.shape, -math.inf))

    def to_dict(self):
        return {"name": self.name, "dim": self.dim}


PRIORS: dict[str, type[Prior]] = {p.name: p for p in (GaussianPrior, MixturePrior, UniformPrior, SwissRollPrior,
                                                      CategoricalPrior)}


def make_prior(spec: dict) -> Prior:
    """Build a prior from ``{"name": ..., "dim": ..., **params}``.

    Raises
    ------
    ConfigError
        For an unknown name (choices listed) or unknown/invalid parameters.
    """
    spec = dict(spec)
    name = spec.pop("name", None)
    if name not in PRIORS:
        raise ConfigError(f"unknown prior {name!r}; choose one of {sorted(PRIORS)}")
    try:
        return PRIORS[name](**spec)
    except TypeError as err:
        raise ConfigError(f"bad parameters for the {name} prior: {err}") from err
