"""Adversarial autoencoder (Makhzani et al. 2015, arXiv:1511.05644, Sec. 2).

A deterministic encoder q(z|x), a decoder p(x|z) and a discriminator D(z) that tells codes from prior
samples. Modalities differ only in the encoder and decoder passed in. ``forward(batch, phase)`` returns
the objective of one training phase, so one generic trainer (and PyTorch DDP) drives every model family.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aae_core.priors import Prior


class AdversarialAutoencoder(nn.Module):
    """Container of ``encoder``, ``decoder`` and ``discriminator`` with its ``prior``.

    The encoder maps a batch dict to (batch, latent_dim); the decoder provides
    ``reconstruction_loss(z, batch)``; the discriminator maps (batch, latent_dim) to logits.

    ``posterior_noise`` > 0 makes q(z|x) the paper's "Gaussian posterior" (Sec. 2, second choice of q) with a
    fixed standard deviation: while training, every phase uses ``z = mu(x) + posterior_noise * eps``,
    eps ~ N(0, I), so the decoder learns to decode whole neighbourhoods and the noisy codes are what must
    match the prior. Outside training (``model.eval()``) codes are the means ``mu(x)``.

    ``joint=True`` trains as the MOSES AAE trainer does (Polykovskiy et al. 2020): the generator loss is
    added to the reconstruction loss of the same codes and both go into one backward pass and one optimizer
    step of the encoder and decoder ("autoencoder+generator" phase), then the discriminator step; the encoder
    runs twice per step instead of three times. ``joint=False`` (default) is the paper's separate
    reconstruction, discriminator and generator phases, each with its own optimizer.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, discriminator: nn.Module, prior: Prior,
                 adversarial_weight: float = 1.0, posterior_noise: float = 0.0, joint: bool = False,
                 noise_schedule: tuple[float | None, int] = (None, 0)):
        super().__init__()
        self.encoder, self.decoder, self.discriminator = encoder, decoder, discriminator
        self.prior = prior
        self.adversarial_weight = adversarial_weight
        self.posterior_noise = posterior_noise
        self.joint = joint
        self.noise_final, self.noise_steps = noise_schedule
        if self.noise_steps:
            self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def current_noise(self) -> float:
        """Std of the posterior noise at the current training step."""
        if not self.noise_steps:
            return self.posterior_noise
        done = min(1.0, int(self.step) / self.noise_steps)
        return self.posterior_noise + (self.noise_final - self.posterior_noise) * done

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Latent codes, (batch, latent_dim) float: posterior means, plus the posterior noise while training."""
        z = self.encoder(batch)
        noise = self.current_noise()
        if self.training and noise > 0:
            z = z + noise * torch.randn_like(z)
        return z

    def phases(self, pretraining: bool) -> list[str]:
        """Training phases of one step, in order (only reconstruction while pretraining)."""
        if pretraining:
            return ["autoencoder"]
        if self.joint:
            return ["autoencoder+generator", "discriminator"]
        return ["autoencoder", "discriminator", "generator"]

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters updated by each phase."""
        autoencoder = [*self.encoder.parameters(), *self.decoder.parameters()]
        if self.joint:
            return {"autoencoder": autoencoder, "autoencoder+generator": list(autoencoder),
                    "discriminator": list(self.discriminator.parameters())}
        return {"autoencoder": autoencoder, "discriminator": list(self.discriminator.parameters()),
                "generator": list(self.encoder.parameters())}

    def forward(self, batch: dict[str, torch.Tensor], phase: str) -> dict[str, torch.Tensor]:
        """Loss of one phase: a dict with ``loss`` (what that phase minimises) and named terms.

        - ``autoencoder``: reconstruction loss of x -> z -> x (nats per token for sequences);
        - ``discriminator``: binary cross-entropy of D on prior samples (label 1) vs ``z.detach()``
          (label 0), Makhzani et al. Sec. 2 "regularization phase";
        - ``generator``: the encoder is updated to make D label its codes 1 (non-saturating form);
        - ``autoencoder+generator`` (``joint``): reconstruction + ``adversarial_weight`` x generator loss of
          the same codes.
        """
        if phase in ("autoencoder", "autoencoder+generator"):
            return self._reconstruction_phase(batch, with_generator=phase == "autoencoder+generator")
        if phase == "discriminator":
            with torch.no_grad():
                z = self.encode(batch).float()
            prior = self.prior.sample(z.shape[0]).to(z.device)
            logits = self.discriminator(torch.cat([prior, z])).float()
            labels = torch.cat([torch.ones(len(prior)), torch.zeros(len(z))]).to(z.device)
            loss = F.binary_cross_entropy_with_logits(logits, labels)
            return {"loss": loss, "discriminator": loss}
        if phase == "generator":
            loss = self.generator_loss(self.encode(batch))
            return {"loss": self.adversarial_weight * loss, "generator": loss}
        raise ValueError(f"unknown phase {phase!r}")

    def _reconstruction_phase(self, batch: dict[str, torch.Tensor], with_generator: bool) -> dict[str, torch.Tensor]:
        """Reconstruction loss (plus the generator loss of the same codes when ``with_generator``); the one phase
        per step that advances the noise schedule's ``step``."""
        z = self.encode(batch)
        terms = {"reconstruction": self.decoder.reconstruction_loss(z, batch)}
        if with_generator:
            terms["generator"] = self.generator_loss(z)
        if self.noise_steps:
            terms["posterior_noise"] = torch.tensor(self.current_noise(), device=z.device)
            if self.training:
                self.step += 1
        loss = terms["reconstruction"] + self.adversarial_weight * terms.get("generator", 0.0)
        return {"loss": loss, **terms}

    def generator_loss(self, z: torch.Tensor) -> torch.Tensor:
        """Non-saturating generator loss -log D(z) (mean over the batch) of codes ``z`` (batch, latent_dim)."""
        logits = self.discriminator(z).float()
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
