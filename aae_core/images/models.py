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
    ``input_shift`` > 0 translates each image by a random whole number of pixels in [-input_shift,
    input_shift] along each axis while training (see :func:`random_shift`). ``input_rotation`` (degrees) or
    ``input_zoom`` (a fraction) > 0 instead warps each image by a random rotation, zoom and a shift of up to
    ``input_shift`` pixels, not necessarily whole (see :func:`random_affine`). ``deskew`` straightens every
    image first, in training and evaluation alike (see :func:`deskew`). All of these need ``shape``.
    """

    def __init__(self, pixels: int, hidden_dim: int, num_layers: int, out_dim: int, dropout: float = 0.0,
                 input_noise: float = 0.0, input_shift: int = 0, shape: tuple[int, int] | None = None,
                 input_rotation: float = 0.0, input_zoom: float = 0.0, deskew: bool = False):
        super().__init__()
        if (input_shift or input_rotation or input_zoom or deskew) and (shape is None or shape[0] * shape[1] != pixels):
            raise ValueError(f"input_shift, input_rotation, input_zoom and deskew need the image shape (height, width) "
                             f"of the {pixels} pixels, got {shape}")
        self.input_noise, self.input_shift, self.shape = input_noise, input_shift, shape
        self.input_rotation, self.input_zoom, self.deskew = input_rotation, input_zoom, deskew
        self.net = mlp(pixels, hidden_dim, num_layers, out_dim, dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """``batch["x"]`` (batch, pixels) float in [0, 1] -> (batch, out_dim) float."""
        x = deskew(batch["x"], self.shape) if self.deskew else batch["x"]
        if self.training and (self.input_rotation or self.input_zoom):
            x = random_affine(x, self.shape, self.input_shift, self.input_rotation, self.input_zoom)
        elif self.training and self.input_shift:
            x = random_shift(x, self.shape, self.input_shift)
        if self.training and self.input_noise:
            x = x + self.input_noise * torch.randn_like(x)
        return self.net(x)


def random_shift(x: torch.Tensor, shape: tuple[int, int], max_shift: int) -> torch.Tensor:
    """Translate each flattened image of ``x`` (batch, height * width) by its own random offset (dy, dx), each
    drawn uniformly from the integers in [-max_shift, max_shift] with torch's global RNG; pixels moved in from
    outside are 0. Returns (batch, height * width).

    Random translation is a standard data augmentation for digit classifiers, not part of the AAE paper; only
    the encoder's input is shifted, the reconstruction target stays the original image.
    """
    (height, width), n = shape, len(x)
    offsets = torch.randint(-max_shift, max_shift + 1, (n, 2), device=x.device)
    padded = F.pad(x.view(n, height, width), (max_shift,) * 4)
    # out[i, r, c] = x[i, r - dy_i, c - dx_i]: row r of the output reads row r - dy + max_shift of ``padded``
    rows = torch.arange(height, device=x.device) + max_shift - offsets[:, :1]  # (batch, height)
    cols = torch.arange(width, device=x.device) + max_shift - offsets[:, 1:]  # (batch, width)
    out = padded[torch.arange(n, device=x.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.reshape(n, height * width)


def random_affine(x: torch.Tensor, shape: tuple[int, int], max_shift: float, max_rotation: float,
                  max_zoom: float) -> torch.Tensor:
    """Warp each flattened image of ``x`` (batch, height * width) by its own random rotation about the centre
    (uniform in [-max_rotation, max_rotation] degrees), zoom (a scale uniform in [1 - max_zoom, 1 + max_zoom])
    and translation (uniform in [-max_shift, max_shift] pixels along each axis), drawn with torch's global RNG;
    bilinear resampling (``torch.nn.functional.grid_sample``), 0 outside the image. Returns (batch, height * width).

    Random affine distortion is the standard augmentation of digit classifiers (e.g. Simard et al. 2003), not
    part of the AAE paper; only the encoder's input is warped, the reconstruction target stays the original.
    """
    (height, width), n = shape, len(x)
    angle = torch.deg2rad((2 * torch.rand(n, device=x.device) - 1) * max_rotation)
    scale = 1 + (2 * torch.rand(n, device=x.device) - 1) * max_zoom
    # normalised coordinates run over [-1, 1] across the image, so one pixel is 2 / width (or 2 / height) wide
    shift = (2 * torch.rand(n, 2, device=x.device) - 1) * max_shift * 2 / torch.tensor([width, height], device=x.device)
    cos, sin = angle.cos() / scale, angle.sin() / scale  # output pixel p reads the input at R(angle) p / scale + t
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), [n, 1, height, width], align_corners=False)
    return F.grid_sample(x.view(n, 1, height, width), grid, align_corners=False).view(n, height * width)


def deskew(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Straighten each flattened image of ``x`` (batch, height * width): move its centre of intensity to the
    image centre and undo the horizontal shear that makes its principal axis lean, alpha = cov(row, col) /
    var(row) of the pixel intensities. Bilinear resampling (``torch.nn.functional.grid_sample``), 0 outside the
    image; a blank image stays blank. Returns (batch, height * width) in ``x``'s dtype.

    Moment-based deskewing is the classic MNIST preprocessing (LeCun et al. 1998, Proc. IEEE 86(11); the
    "deskewing" rows of the MNIST results table); not part of the AAE paper.
    """
    (height, width), n = shape, len(x)
    images = x.view(n, height, width)
    rows = torch.arange(height, dtype=x.dtype, device=x.device)[:, None]
    cols = torch.arange(width, dtype=x.dtype, device=x.device)[None, :]
    total = images.sum((1, 2)).clamp_min(1e-6)
    row_mean, col_mean = (images * rows).sum((1, 2)) / total, (images * cols).sum((1, 2)) / total
    row_dev = rows - row_mean[:, None, None]  # (batch, height, 1)
    row_var = (images * row_dev**2).sum((1, 2)) / total
    alpha = (images * row_dev * (cols - col_mean[:, None, None])).sum((1, 2)) / total / row_var.clamp_min(1e-6)
    # output pixel (row r, col c) reads the input at (r + row_mean - centre_r, c + col_mean - centre_c + alpha
    # (r - centre_r)); affine_grid's normalised coordinates put one pixel at 2 / width (or 2 / height)
    one, zero = torch.ones_like(alpha), torch.zeros_like(alpha)
    theta = torch.stack([torch.stack([one, alpha * height / width, (2 * col_mean + 1) / width - 1], 1),
                         torch.stack([zero, one, (2 * row_mean + 1) / height - 1], 1)], 1)
    grid = F.affine_grid(theta, [n, 1, height, width], align_corners=False)
    return F.grid_sample(images[:, None], grid, align_corners=False).view(n, height * width)


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
