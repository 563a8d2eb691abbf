"""Variational autoencoder (Kingma & Welling 2014, "Auto-encoding variational Bayes", arXiv:1312.6114),
optionally with a property regression head on the latent code (Gomez-Bombarelli et al. 2018, "Automatic
chemical design using a data-driven continuous representation of molecules", ACS Cent. Sci. 4:268).

The encoder is the AAE's, with twice the outputs: the mean and log-variance of a diagonal Gaussian
posterior q(z|x). The objective is the negative ELBO (Kingma & Welling Eq. 10) divided by the mean number
of target tokens per molecule, so that its reconstruction term is in nats per token like the AAE's:

    loss = reconstruction + beta_t * KL / tokens_per_molecule [+ property_weight * property]

with KL(q(z|x) || N(0, I)) in closed form (Appendix B), ``beta_t`` annealed linearly from 0 to
``kl_weight`` over ``kl_anneal_steps`` steps (Bowman et al. 2016, "Generating sentences from a continuous
space", Sec. 3.1) and "free bits" (Kingma et al. 2016, "Improved variational inference with inverse
autoregressive flow", arXiv:1606.04934, appendix "free bits"): each latent dimension's batch-mean KL
counts at least ``free_bits`` nats, so the optimiser gains nothing by collapsing it below that.
``kl_weight = 1``, no annealing and no free bits is the plain ELBO.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aae_core.exceptions import DataError
from aae_core.models.autoencoder import Autoencoder
from aae_core.priors import GaussianPrior


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension, ``0.5 (mu^2 + exp(logvar) - 1 - logvar)``
    (Kingma & Welling 2014, Appendix B): (batch, latent_dim) float in nats."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def free_bits_kl(kl: torch.Tensor, free_bits: float) -> torch.Tensor:
    """KL per molecule with each dimension's batch mean clamped below at ``free_bits`` nats:
    ``sum_j max(free_bits, mean_batch KL_j)`` (Kingma et al. 2016, appendix "free bits"); a scalar."""
    return kl.mean(0).clamp(min=free_bits).sum()


class PropertyHead(nn.Module):
    """MLP from a latent code to ``num_properties`` standardised properties.

    ``mean`` and ``std`` (buffers, saved with the model) are fitted on the training set with
    :meth:`fit_scaling`; the loss is the mean squared error of the standardised values, and
    :meth:`forward` answers in the properties' own units.
    """

    def __init__(self, latent_dim: int, num_properties: int, hidden_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, num_properties))
        self.register_buffer("mean", torch.zeros(num_properties))
        self.register_buffer("std", torch.ones(num_properties))

    def fit_scaling(self, values: torch.Tensor) -> PropertyHead:
        """Set ``mean``/``std`` from training values (n, num_properties) float; returns self."""
        self.mean.copy_(values.float().mean(0))
        self.std.copy_(values.float().std(0).clamp(min=1e-6))
        return self

    def loss(self, z: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """MSE of the standardised properties predicted from ``z`` (batch, latent_dim); a scalar."""
        return F.mse_loss(self.net(z).float(), (values.float() - self.mean) / self.std)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Predicted properties (batch, num_properties) in their own units."""
        return self.net(z).float() * self.std + self.mean


class VariationalAutoencoder(Autoencoder):
    """Sequence VAE with the prior N(0, I), optionally predicting properties from the posterior mean.

    Parameters
    ----------
    encoder : maps a batch dict to (batch, 2 * latent_dim): posterior means, then log-variances.
    decoder : :class:`~aae_core.molecules.sequence.SequenceDecoder` on ``latent_dim`` codes.
    kl_weight, kl_anneal_steps, free_bits : see the module docstring.
    property_head : predicts ``batch["properties"]`` (batch, k) from the posterior mean, or ``None``.

    The training step count used for annealing is the buffer ``step``, so it is saved and resumed with
    the weights.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int, kl_weight: float = 1.0,
                 kl_anneal_steps: int = 0, free_bits: float = 0.0, property_head: PropertyHead | None = None,
                 property_weight: float = 1.0):
        super().__init__(encoder, decoder, GaussianPrior(latent_dim, 1.0))
        self.kl_weight, self.kl_anneal_steps, self.free_bits = kl_weight, kl_anneal_steps, free_bits
        self.property_head, self.property_weight = property_head, property_weight
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def posterior(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z|x), each (batch, latent_dim) float32."""
        return self.encoder(batch).float().chunk(2, dim=-1)

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Posterior means, (batch, latent_dim) float32."""
        return self.posterior(batch)[0]

    def current_kl_weight(self) -> float:
        """``beta_t = kl_weight * min(1, step / kl_anneal_steps)`` (``kl_weight`` without annealing)."""
        if self.kl_anneal_steps <= 0:
            return self.kl_weight
        return self.kl_weight * min(1.0, int(self.step) / self.kl_anneal_steps)

    def forward(self, batch: dict[str, torch.Tensor], phase: str = "autoencoder") -> dict[str, torch.Tensor]:
        """The annealed negative ELBO per token; one step in training mode advances ``step``.

        Returns ``loss`` and the terms ``reconstruction`` (nats per token), ``kl`` (nats per molecule,
        unweighted and without free bits), ``kl_weight`` (``beta_t``) and, with a property head,
        ``property`` (MSE of standardised properties).
        """
        mu, logvar = self.posterior(batch)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterisation trick
        reconstruction = self.decoder.reconstruction_loss(z, batch)
        kl = gaussian_kl(mu, logvar)
        tokens_per_molecule = (batch["tokens"][:, 1:] != 0).sum() / len(mu)
        weight = self.current_kl_weight()
        loss = reconstruction + weight * free_bits_kl(kl, self.free_bits) / tokens_per_molecule
        terms = {"reconstruction": reconstruction, "kl": kl.sum(-1).mean(), "kl_weight": torch.tensor(weight)}
        if self.property_head is not None:
            terms["property"] = self.property_head.loss(mu, self._properties(batch))
            loss = loss + self.property_weight * terms["property"]
        if self.training:
            self.step += 1
        return {"loss": loss, **terms}

    @staticmethod
    def _properties(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if "properties" not in batch:
            raise DataError("a vae-property model needs batches with 'properties'; train it through "
                            "aae_core.molecules.pipeline.train_molecules, which computes them from the SMILES")
        return batch["properties"]
