"""AAE with a categorical class code y and a continuous style code z: semi-supervised classification
(Makhzani et al. 2015, Sec. 5, Fig. 8) and, without labels, unsupervised clustering (Sec. 6).

The encoder emits class logits and z; the decoder reads ``[softmax(logits), z]``. Two discriminators
push softmax(logits) towards one-hot draws of a uniform categorical and z towards its prior. One training
step runs the reconstruction phase, the regularisation phase (both discriminators, then the encoder as
generator), when labels are given, the semi-supervised phase: cross-entropy of q(y|x) on a labelled
minibatch, and, when ``consistency`` > 0, a consistency phase (not in the paper, see :meth:`CategoricalAAE.forward`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aae_core.models.aae import AdversarialAutoencoder
from aae_core.models.adversarial import discriminator_loss, generator_loss
from aae_core.priors import CategoricalPrior, Prior

#: The families with a categorical class code y (Sec. 5-6): held-out accuracy, batch-normalised logits, consistency.
CATEGORICAL_MODELS = ("semi-supervised", "clustering")


class CategoricalAAE(AdversarialAutoencoder):
    """AAE with a class code y ~ Cat(num_classes) and a style code z ~ ``prior`` (Sec. 5, Fig. 8).

    Parameters
    ----------
    encoder : batch -> (batch, num_classes + style_dim): class logits then style z.
    decoder : reads ``num_classes + style_dim`` inputs.
    discriminator : D(z) on the style code, against ``prior``.
    category_discriminator : D(y) on the class code, against one-hot draws of a uniform categorical.
    supervised : add the semi-supervised phase (batches carry ``x_labelled``, ``y_labelled``).
    logit_norm : batch-normalise the class logits (no learned scale or shift). Without labels the encoder
        can put every image in one cluster, where the softmax saturates and the class discriminator's
        gradient vanishes; normalising each logit over the batch keeps the clusters apart.
    logit_scale : multiplies the (normalised) class logits, i.e. a softmax temperature of 1 / logit_scale.
        Normalised logits have unit variance over the batch, so at scale 1 the softmax cannot get near
        one-hot (the class discriminator wins outright); 2 lets it, while still bounding how far the
        supervised cross-entropy can overfit the few labels. Neither is in the paper.
    consistency : weight of the consistency phase; 0 leaves it out. The encoder's training-time input
        augmentation (noise, shift) and dropout make two passes over one minibatch differ; the phase asks
        q(y|x) to agree between them (the Pi-model of Laine & Aila 2017, arXiv:1610.02242, with the KL
        divergence and a fixed first pass as in UDA, Xie et al. 2020, arXiv:1904.12848). When the batch
        carries ``x_pair`` (a near neighbour of each image, or the image itself), the second pass reads it
        instead: neighbours should share a class, the idea of SCAN (Van Gansbeke et al. 2020,
        arXiv:2005.12320), there with neighbours in a learned feature space. Not in the paper.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, discriminator: nn.Module, prior: Prior,
                 category_discriminator: nn.Module, num_classes: int, supervised: bool, logit_norm: bool = False,
                 logit_scale: float = 1.0, consistency: float = 0.0):
        super().__init__(encoder, decoder, discriminator, prior)
        self.logit_norm = nn.BatchNorm1d(num_classes, affine=False) if logit_norm else nn.Identity()
        self.logit_scale = logit_scale
        self.category_discriminator = category_discriminator
        self.category_prior = CategoricalPrior(num_classes)
        self.num_classes, self.supervised, self.consistency = num_classes, supervised, consistency

    def split(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits (batch, num_classes) and style z (batch, style_dim)."""
        out = self.encoder(batch)
        return self.logit_scale * self.logit_norm(out[:, : self.num_classes]), out[:, self.num_classes:]

    def classify(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """q(y|x): class (or cluster) probabilities, (batch, num_classes)."""
        return self.split(batch)[0].softmax(-1)

    def codes(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Class code softmax(logits) (batch, num_classes) and style z (batch, style_dim), float32: what the
        two discriminators judge."""
        logits, style = self.split(batch)
        return logits.float().softmax(-1), style.float()

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The decoder's input ``[softmax(logits), z]``, (batch, num_classes + style_dim)."""
        return torch.cat(self.codes(batch), dim=1)

    def _encoder_phases(self) -> list[str]:
        return ["supervised"] * self.supervised + ["consistency"] * (self.consistency > 0)

    def phases(self, pretraining: bool) -> list[str]:
        return [*super().phases(pretraining), *self._encoder_phases()]

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        groups = super().parameter_groups()
        groups["discriminator"] += list(self.category_discriminator.parameters())
        return {**groups, **{phase: list(self.encoder.parameters()) for phase in self._encoder_phases()}}

    def forward(self, batch: dict[str, torch.Tensor], phase: str) -> dict[str, torch.Tensor]:
        """Loss of one phase: ``autoencoder`` (reconstruction, as the base AAE), ``discriminator`` (sum over
        the class and style discriminators), ``generator`` (the encoder fools both), ``supervised``
        (cross-entropy of the class logits on the labelled minibatch), ``consistency`` (``consistency`` x
        KL(q1 || q2) between q(y|x) of two training-mode passes, q1 over the minibatch and held fixed, q2 over
        ``x_pair`` where the batch has it, else over the minibatch again)."""
        if phase == "autoencoder":
            return super().forward(batch, phase)
        if phase == "supervised":
            logits, _ = self.split({"x": batch["x_labelled"]})
            loss = F.cross_entropy(logits.float(), batch["y_labelled"])
            return {"loss": loss, "supervised": loss}
        if phase == "consistency":
            with torch.no_grad():
                target = self.split(batch)[0].float().log_softmax(-1)
            log_q = self.split({"x": batch.get("x_pair", batch["x"])})[0].float().log_softmax(-1)
            loss = F.kl_div(log_q, target, log_target=True, reduction="batchmean")
            return {"loss": self.consistency * loss, "consistency": loss}
        if phase == "discriminator":
            with torch.no_grad():
                y, z = self.codes(batch)
            n = len(y)
            category = discriminator_loss(self.category_discriminator, self.category_prior.sample(n).to(y.device), y)
            style = discriminator_loss(self.discriminator, self.prior.sample(n).to(z.device), z)
            return {"loss": category + style, "discriminator_y": category, "discriminator": style}
        if phase == "generator":
            y, z = self.codes(batch)
            category, style = generator_loss(self.category_discriminator, y), generator_loss(self.discriminator, z)
            return {"loss": self.adversarial_weight * (category + style), "generator_y": category, "generator": style}
        raise ValueError(f"unknown phase {phase!r}")
