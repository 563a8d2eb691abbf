"""Plain deterministic autoencoder: the AAE without its adversarial regulariser.

Trained on reconstruction alone (Hinton & Salakhutdinov 2006, "Reducing the dimensionality of data with
neural networks", Science 313:504), nothing shapes the distribution of its codes, so decoding draws from
N(0, I) mostly lands where no molecule was encoded and gives invalid strings: the baseline that shows
why the AAE and the VAE need a prior. It is also the base class of the VAE, which shares its training
contract with the shared :class:`~aae_core.training.Trainer`.
"""

from __future__ import annotations

import torch
from torch import nn

from aae_core.priors import Prior


class Autoencoder(nn.Module):
    """Container of ``encoder`` and ``decoder`` with the ``prior`` that samples are drawn from.

    Parameters
    ----------
    encoder : maps a batch dict to (batch, latent_dim) float codes.
    decoder : a :class:`~aae_core.molecules.sequence.SequenceDecoder` (``reconstruction_loss``, ``generate``).
    prior : the distribution :meth:`MoleculeGenerator.sample` draws codes from; for the autoencoder it
        is not trained towards, so its samples show how far the codes are from it.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, prior: Prior):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.prior = prior

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Latent codes, (batch, latent_dim) float."""
        return self.encoder(batch)

    def phases(self, pretraining: bool) -> list[str]:
        """One phase per step, pretraining or not: the whole objective is one loss."""
        return ["autoencoder"]

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Every parameter is updated by the one phase."""
        return {"autoencoder": list(self.parameters())}

    def forward(self, batch: dict[str, torch.Tensor], phase: str = "autoencoder") -> dict[str, torch.Tensor]:
        """``{"loss", "reconstruction"}``: cross-entropy of x -> z -> x in nats per token."""
        loss = self.decoder.reconstruction_loss(self.encode(batch), batch)
        return {"loss": loss, "reconstruction": loss}
