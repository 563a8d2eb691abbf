"""AAE whose prior is conditioned on labels (Makhzani et al. 2015, Sec. 2.3, Fig. 6).

Each labelled code is matched to its class's mixture component: the discriminator sees ``[z, one-hot]``
with an extra (k+1-th) class for unlabelled images, whose prior samples come from the whole mixture. The
decoder stays unconditional.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aae_core.exceptions import ConfigError
from aae_core.models.aae import AdversarialAutoencoder
from aae_core.models.adversarial import discriminator_loss, generator_loss
from aae_core.priors import MixturePrior


class LabelPriorAAE(AdversarialAutoencoder):
    """Parameters as :class:`AdversarialAutoencoder`; ``discriminator`` takes ``latent_dim + k + 1`` inputs
    and ``prior`` must be a :class:`~aae_core.priors.MixturePrior` with one component per class."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, discriminator: nn.Module, prior: MixturePrior):
        if not isinstance(prior, MixturePrior):
            raise ConfigError(f"a label-conditioned prior needs the mixture prior (one component per class), "
                              f"got {prior.name!r}")
        super().__init__(encoder, decoder, discriminator, prior)

    def condition(self, y: torch.Tensor) -> torch.Tensor:
        """Labels (batch,) long, -1 for unlabelled -> (batch, k + 1) one-hot, the last column 'unlabelled'."""
        k = self.prior.k
        return F.one_hot(torch.where(y < 0, k, y), k + 1).float()

    def prior_sample(self, y: torch.Tensor) -> torch.Tensor:
        """One prior draw per label (batch, latent_dim): from component ``y``, or any for unlabelled rows."""
        random = torch.randint(self.prior.k, y.shape)
        return self.prior.sample(len(y), components=torch.where(y.cpu() < 0, random, y.cpu())).to(y.device)

    def forward(self, batch: dict[str, torch.Tensor], phase: str) -> dict[str, torch.Tensor]:
        """As the base AAE; in the regularisation phases D judges ``[z, condition(y)]``."""
        if phase == "autoencoder":
            return super().forward(batch, phase)
        condition = self.condition(batch["y"])
        if phase == "discriminator":
            with torch.no_grad():
                fake = torch.cat([self.encode(batch).float(), condition], dim=1)
            real = torch.cat([self.prior_sample(batch["y"]), condition], dim=1)
            loss = discriminator_loss(self.discriminator, real, fake)
            return {"loss": loss, "discriminator": loss}
        if phase == "generator":
            loss = generator_loss(self.discriminator, torch.cat([self.encode(batch), condition], dim=1))
            return {"loss": self.adversarial_weight * loss, "generator": loss}
        raise ValueError(f"unknown phase {phase!r}")
