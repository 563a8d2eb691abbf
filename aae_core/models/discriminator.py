"""MLP discriminator D(z) -> logit that ``z`` was drawn from the prior (Makhzani et al. 2015, Sec. 2)."""

from __future__ import annotations

import torch
from torch import nn


class Discriminator(nn.Module):
    """Fully connected network with LeakyReLU(0.2) hidden layers.

    Parameters
    ----------
    input_dim : latent_dim, plus the size of any conditioning vector (e.g. a one-hot label).
    hidden_dims : hidden layer widths, e.g. ``[640, 256]`` as in MOSES.
    """

    def __init__(self, input_dim: int, hidden_dims: list[int], dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        width = input_dim
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(batch, input_dim) float -> (batch,) logits (positive: looks like a prior sample)."""
        return self.net(z).squeeze(-1)
