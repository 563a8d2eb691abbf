"""Fully connected encoder and decoder for flattened images (Makhzani et al. 2015, Sec. 2 and appendix:
two hidden layers of 1,000 ReLU units on MNIST; the AAE_pytorch walk-through adds dropout 0.25)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def mlp(in_dim: int, hidden_dim: int, num_layers: int, out_dim: int, dropout: float = 0.0) -> nn.Sequential:
    """``num_layers`` x (Linear -> ReLU -> Dropout) of width ``hidden_dim``, then Linear to ``out_dim``."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(num_layers):
        layers += [nn.Linear(width, hidden_dim), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = hidden_dim
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class ImageEncoder(nn.Module):
    """q(z|x): pixels -> ``out_dim`` features (the code z, or class logits and style for Sec. 5 models).

    ``input_noise`` > 0 adds N(0, input_noise^2) to the pixels while training (a denoising encoder, as
    in the ladder networks the paper compares with), which regularises semi-supervised classifiers.
    """

    def __init__(self, pixels: int, hidden_dim: int, num_layers: int, out_dim: int, dropout: float = 0.0,
                 input_noise: float = 0.0):
        super().__init__()
        self.input_noise = input_noise
        self.net = mlp(pixels, hidden_dim, num_layers, out_dim, dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``batch["x"]`` (batch, pixels) float in [0, 1] -> (batch, out_dim) float."""
        x = batch["x"]
        if self.training and self.input_noise:
            x = x + self.input_noise * torch.randn_like(x)
        return self.net(x)


class ImageDecoder(nn.Module):
    """p(x|z[, y]): code (plus the one-hot label when ``num_classes`` > 0, the supervised AAE of Sec. 4)
    -> Bernoulli pixel logits.

    Parameters
    ----------
    num_classes : 0 for an unconditional decoder; otherwise ``batch["y"]`` is one-hot encoded and
        concatenated to z, so z need only carry style.
    """

    def __init__(self, latent_dim: int, hidden_dim: int, num_layers: int, pixels: int, dropout: float = 0.0,
                 num_classes: int = 0):
        super().__init__()
        self.num_classes = num_classes
        self.net = mlp(latent_dim + num_classes, hidden_dim, num_layers, pixels, dropout)

    def logits(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, latent_dim) float [and (batch,) long labels] -> (batch, pixels) logits."""
        if self.num_classes:
            if y is None:
                raise ValueError("this decoder is label-conditioned: pass the labels y")
            z = torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], dim=1)
        return self.net(z)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Pixel intensities (batch, pixels) in [0, 1]: the Bernoulli means."""
        return torch.sigmoid(self.logits(z, y))

    def reconstruction_loss(self, z: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Binary cross-entropy of ``batch["x"]`` under the decoded Bernoulli means, mean over pixels and
        images (nats per pixel), the reconstruction phase of Sec. 2."""
        return F.binary_cross_entropy_with_logits(self.logits(z, batch.get("y")), batch["x"])
