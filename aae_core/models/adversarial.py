"""The two objectives of the regularisation phase (Makhzani et al. 2015, Sec. 2), for models with more
than one discriminator or a conditioned one (the base :class:`~aae_core.models.aae.AdversarialAutoencoder`
writes the same two losses inline)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def discriminator_loss(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of D on prior samples ``real`` (label 1) vs codes ``fake`` (label 0), both
    (batch, dim) float; ``fake`` is detached so only D learns."""
    logits = discriminator(torch.cat([real, fake.detach()])).float()
    labels = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))]).to(logits.device)
    return F.binary_cross_entropy_with_logits(logits, labels)


def generator_loss(discriminator: nn.Module, fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator objective: the encoder makes D label its codes ``fake`` (batch, dim) as 1."""
    logits = discriminator(fake).float()
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
