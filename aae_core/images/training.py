"""Image models end to end: configuration, the five model families, data preparation, training with the
shared :class:`~aae_core.training.Trainer`, and loading a trained image model back.

Families (``ImageConfig.model``), all Makhzani et al. 2015 (arXiv:1511.05644):

- ``aae``: unsupervised AAE with any prior (Sec. 2/3; Gaussian, mixture, swiss roll, uniform);
- ``supervised``: the decoder also reads the one-hot label, so z holds only style (Sec. 4);
- ``label-prior``: mixture prior whose components are matched to labels (Sec. 2.3);
- ``semi-supervised``: categorical class code + style code, a few labels (Sec. 5);
- ``clustering``: the same with ``num_classes`` clusters and no labels (Sec. 6).

Used by ``aae-lab train-images``, the dashboard's digit pages and bench/bench_images.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aae_core.checkpoints import Checkpoint
from aae_core.config import TrainConfig, from_dict, to_dict
from aae_core.exceptions import ConfigError
from aae_core.images.data import (
    EMBEDDED,
    ImageData,
    ImageDataset,
    choose_labelled,
    load_images,
    neighbour_table,
    stratified_split,
)
from aae_core.images.label_prior import LabelPriorAAE
from aae_core.images.models import ImageDecoder, ImageEncoder, deskew
from aae_core.images.semisupervised import CATEGORICAL_MODELS, CategoricalAAE
from aae_core.models.aae import AdversarialAutoencoder
from aae_core.models.discriminator import Discriminator
from aae_core.priors import make_prior
from aae_core.registry import LoadedModel
from aae_core.training import Callback, History, Trainer, seed_everything

MODALITY = "images"
SHIPPED = Path(__file__).resolve().parents[2] / "checkpoints"
ACCURACY_TABLE = Path(__file__).resolve().parents[2] / "assets" / "digits" / "semisupervised_accuracy.csv"
#: The 2,000 held-out images of the MNIST-8k split (MNIST test set, stratified, seed 0) as uint8 in an .npz
#: (split "heldout"): what the shipped MNIST models are shown with where their training file is not present.
MNIST_HELD_OUT = ACCURACY_TABLE.parent / "mnist_heldout.npz"
#: The families trained with labels (all of them, or ``num_labels``).
LABELLED_MODELS = ("supervised", "label-prior", "semi-supervised")


@dataclass
class ImageConfig:
    """What to train on which images (defaults: the unsupervised AAE on the embedded 8x8 digits)."""

    model: str = "aae"  # aae | supervised | label-prior | semi-supervised | clustering
    data: str = "digits"  # "digits" (embedded), an .npz archive, or an IDX images file
    labels: str | None = None  # IDX labels file (default: the MNIST sibling of the images file)
    split: str = "train"  # .npz split: reads x_<split>, y_<split>
    max_images: int | None = None  # keep only the first N images
    holdout: float = 0.0  # held out for evaluation, stratified: a fraction (< 1) or a count
    split_seed: int = 0  # seed of the held-out split and of the choice of labelled images
    num_labels: int | None = None  # labelled images (label-prior, semi-supervised), equal per class; None: all
    labelled_batch_size: int = 100  # labelled minibatch of the semi-supervised phase (drawn with replacement)
    latent_dim: int = 2  # z (the style code for supervised / semi-supervised / clustering)
    num_classes: int = 10  # classes, or clusters K for clustering
    hidden_dim: int = 1000  # hidden units per layer of the encoder and decoder (MLPs)
    num_layers: int = 2  # hidden layers of the encoder and of the decoder
    dropout: float = 0.0  # dropout probability after each hidden layer (encoder and decoder)
    input_noise: float = 0.0  # std of Gaussian noise added to the encoder's input while training
    input_shift: int = 0  # max random translation (pixels) of the encoder's input while training; 0: off
    input_rotation: float = 0.0  # max random rotation (degrees) of the encoder's input while training; 0: off
    input_zoom: float = 0.0  # max random zoom (fraction of the size) of the encoder's input while training; 0: off
    deskew: bool = False  # the encoder reads each image straightened (centred, shear undone), in training and use
    logit_norm: bool = True  # batch-normalise the class logits (semi-supervised / clustering; without: collapse)
    logit_scale: float = 1.0  # multiplies the class logits (after logit_norm): softmax temperature 1 / logit_scale
    consistency: float = 0.0  # weight of the q(y|x) agreement between two augmented passes (categorical models)
    neighbours: int = 0  # k: the consistency phase pairs each image with itself or one of its k nearest; 0: itself
    restarts: int = 1  # candidates trained for restart_epochs; the lowest-loss one goes on (see train_images)
    restart_epochs: int = 20  # epochs each restart candidate trains before the choice
    discriminator_dims: list[int] = field(default_factory=lambda: [1000, 1000])  # discriminator hidden layer sizes
    prior: dict[str, Any] = field(
        default_factory=lambda: {"name": "gaussian", "sigma": 5.0})  # p(z): gaussian, mixture, uniform or swiss_roll

    def validate(self) -> ImageConfig:
        if self.model not in IMAGE_MODELS:
            raise ConfigError(f"model={self.model!r} is not an image model; choose one of {sorted(IMAGE_MODELS)}")
        for name in ("latent_dim", "num_classes", "hidden_dim", "num_layers", "labelled_batch_size", "restarts",
                     "restart_epochs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.logit_scale > 0 or not self.consistency >= 0:
            raise ConfigError(f"need logit_scale > 0 and consistency >= 0, got {self.logit_scale}, {self.consistency}")
        if not isinstance(self.neighbours, int) or self.neighbours < 0:
            raise ConfigError(f"neighbours must be a whole number >= 0, got {self.neighbours!r}")
        if self.neighbours and not self.consistency:
            raise ConfigError("neighbours pairs images for the consistency phase: also set consistency > 0")
        if not isinstance(self.input_shift, int) or self.input_shift < 0:
            raise ConfigError(f"input_shift must be a whole number of pixels >= 0, got {self.input_shift!r}")
        if not 0 <= self.input_rotation <= 180 or not 0 <= self.input_zoom < 1:
            raise ConfigError(f"need 0 <= input_rotation <= 180 (degrees) and 0 <= input_zoom < 1, got "
                              f"{self.input_rotation}, {self.input_zoom}")
        if not 0 <= self.dropout < 1 or self.holdout < 0 or self.input_noise < 0:
            raise ConfigError(f"need 0 <= dropout < 1, holdout >= 0 and input_noise >= 0; got {self.dropout}, "
                              f"{self.holdout}, {self.input_noise}")
        if self.num_labels is not None and self.model not in ("label-prior", "semi-supervised"):
            raise ConfigError(f"num_labels applies to label-prior and semi-supervised models, not {self.model!r}")
        if self.consistency and self.model not in CATEGORICAL_MODELS:
            raise ConfigError(f"consistency applies to semi-supervised and clustering models, not {self.model!r}")
        return self

    @property
    def uses_labels(self) -> bool:
        return self.model in LABELLED_MODELS


# -- model families --------------------------------------------------------------------------------
def _encoder(cfg: ImageConfig, pixels: int, out_dim: int, shape: tuple[int, int] | None) -> ImageEncoder:
    return ImageEncoder(pixels, cfg.hidden_dim, cfg.num_layers, out_dim, cfg.dropout, cfg.input_noise,
                        cfg.input_shift, shape, cfg.input_rotation, cfg.input_zoom, cfg.deskew)


def _aae(cfg: ImageConfig, pixels: int, shape: tuple[int, int] | None) -> AdversarialAutoencoder:
    num_classes = cfg.num_classes if cfg.model == "supervised" else 0
    encoder = _encoder(cfg, pixels, cfg.latent_dim, shape)
    decoder = ImageDecoder(cfg.latent_dim, cfg.hidden_dim, cfg.num_layers, pixels, cfg.dropout, num_classes)
    prior = make_prior({**cfg.prior, "dim": cfg.latent_dim})
    return AdversarialAutoencoder(encoder, decoder, Discriminator(cfg.latent_dim, cfg.discriminator_dims), prior)


def _label_prior(cfg: ImageConfig, pixels: int, shape: tuple[int, int] | None) -> LabelPriorAAE:
    prior = make_prior({**cfg.prior, "dim": cfg.latent_dim})
    if getattr(prior, "k", None) != cfg.num_classes:
        raise ConfigError(f"the label-prior model needs a mixture prior with k = num_classes = {cfg.num_classes}, "
                          f"got {cfg.prior}; e.g. --prior mixture,k={cfg.num_classes}")
    encoder = _encoder(cfg, pixels, cfg.latent_dim, shape)
    decoder = ImageDecoder(cfg.latent_dim, cfg.hidden_dim, cfg.num_layers, pixels, cfg.dropout)
    discriminator = Discriminator(cfg.latent_dim + cfg.num_classes + 1, cfg.discriminator_dims)
    return LabelPriorAAE(encoder, decoder, discriminator, prior)


def _categorical(cfg: ImageConfig, pixels: int, shape: tuple[int, int] | None) -> CategoricalAAE:
    k, style = cfg.num_classes, cfg.latent_dim
    encoder = _encoder(cfg, pixels, k + style, shape)
    decoder = ImageDecoder(k + style, cfg.hidden_dim, cfg.num_layers, pixels, cfg.dropout)
    return CategoricalAAE(encoder, decoder, Discriminator(style, cfg.discriminator_dims),
                          make_prior({**cfg.prior, "dim": style}), Discriminator(k, cfg.discriminator_dims), k,
                          supervised=cfg.model == "semi-supervised", logit_norm=cfg.logit_norm,
                          logit_scale=cfg.logit_scale, consistency=cfg.consistency)


IMAGE_MODELS: dict[str, Callable[[ImageConfig, int, tuple[int, int] | None], nn.Module]] = {
    "aae": _aae, "supervised": _aae, "label-prior": _label_prior,
    "semi-supervised": _categorical, "clustering": _categorical,
}


def build_image_model(cfg: ImageConfig, pixels: int, shape: tuple[int, int] | None = None) -> nn.Module:
    """Model family ``cfg.model`` for images of ``pixels`` values; ``shape`` (height, width) is needed by the
    encoder's input augmentation ``input_shift``."""
    return IMAGE_MODELS[cfg.validate().model](cfg, pixels, shape)


# -- data ------------------------------------------------------------------------------------------
@dataclass
class PreparedImages:
    """The training rows, the held-out rows and which training rows keep their label."""

    train: ImageData
    held_out: ImageData | None
    labelled: np.ndarray | None  # indices into ``train``; None means every training label is used

    def dataset(self, cfg: ImageConfig) -> ImageDataset:
        """Trainer dataset: labels hidden (-1) outside ``labelled``; a labelled minibatch for Sec. 5; with
        ``cfg.neighbours``, the neighbour table of the training images as the encoder reads them (deskewed when
        ``cfg.deskew``) for the consistency phase."""
        pairs = None
        if cfg.neighbours:
            images = self.train.images
            if cfg.deskew:
                images = deskew(torch.as_tensor(images), self.train.shape).numpy()
            pairs = neighbour_table(images, cfg.neighbours)
        if not cfg.uses_labels:
            return ImageDataset(self.train.images, neighbours=pairs)
        labels = self.train.require_labels(f"the {cfg.model} model")
        if self.labelled is not None:
            labels = np.full_like(labels, -1)
            labels[self.labelled] = self.train.labels[self.labelled]
        return ImageDataset(self.train.images, labels,
                            cfg.labelled_batch_size if cfg.model == "semi-supervised" else 0, neighbours=pairs)

    def report(self) -> dict:
        """Counts in the shape of the molecule loaders' report (``rows_read``, ``kept``, ``rejected``)."""
        held = 0 if self.held_out is None else len(self.held_out)
        return {"source": self.train.source, "shape": list(self.train.shape), "rows_read": len(self.train) + held,
                "kept": len(self.train), "rejected": {"held_out": held},
                "labelled": len(self.train) if self.labelled is None else len(self.labelled)}


def prepare_images(cfg: ImageConfig) -> PreparedImages:
    """Load ``cfg.data``, hold out ``cfg.holdout`` (stratified, ``split_seed``) and choose the labelled rows."""
    data = load_images(cfg.data, cfg.labels, cfg.split, cfg.max_images)
    held_out = None
    if cfg.holdout:
        size = int(cfg.holdout) if cfg.holdout >= 1 else cfg.holdout
        train_rows, held_rows = stratified_split(data.require_labels("a stratified hold-out"), size, cfg.split_seed)
        data, held_out = data.subset(train_rows), data.subset(held_rows)
    labelled = None
    if cfg.num_labels is not None:
        labelled = choose_labelled(data.require_labels("choosing labelled images"), cfg.num_labels, cfg.split_seed)
    return PreparedImages(data, held_out, labelled)


# -- training --------------------------------------------------------------------------------------
def accuracy_monitor(cfg: ImageConfig, prepared: PreparedImages) -> Callable[[nn.Module], dict] | None:
    """Per-epoch held-out accuracy (semi-supervised) or cluster accuracy (clustering), when rows are held out."""
    if cfg.model not in CATEGORICAL_MODELS or prepared.held_out is None:
        return None
    from aae_core.images.metrics import evaluate_classifier

    def monitor(model: nn.Module) -> dict[str, float]:
        return evaluate_classifier(model, prepared, clustering=cfg.model == "clustering")

    return monitor


def train_images(cfg: ImageConfig, train_cfg: TrainConfig, out: str | Path, card: dict | None = None,
                 callbacks: list[Callback] | None = None, stop_event: threading.Event | None = None,
                 ) -> tuple[History, nn.Module, PreparedImages]:
    """Train a new image model and write its checkpoint (meta ``modality: "images"``) to ``out``.

    With ``cfg.restarts`` > 1, candidates seeded ``seed``, ``seed + 1000``, ... first train for
    ``cfg.restart_epochs`` epochs each; the one with the lowest training objective in its last epoch
    (reconstruction + ``consistency`` x consistency loss, no labels involved) is continued to ``epochs`` and the
    others are deleted; the card's ``restarts`` lists every candidate's seed, objective and whether it was kept (the
    kept candidate's seed is also the checkpoint's ``train_config`` seed). Picking the
    lowest-loss of several randomly started clusterings is k-means' ``n_init`` and the head selection of IIC
    (Ji et al. 2019) and SCAN (Van Gansbeke et al. 2020). Returns the history, the trained model and the data
    it saw (for evaluation).

    Raises
    ------
    ConfigError
        If ``restart_epochs`` >= ``epochs`` while ``restarts`` > 1.
    """
    check_restarts(cfg, train_cfg)
    seed_everything(train_cfg.seed)
    prepared = prepare_images(cfg.validate())
    for callback in callbacks or []:
        callback("data", prepared.report())
    meta = {"modality": MODALITY, "image_config": to_dict(cfg), "image_shape": list(prepared.train.shape),
            "data_report": prepared.report(), "card": dict(card or {}),
            "labelled_indices": None if prepared.labelled is None else prepared.labelled.tolist()}
    model, dataset = _new_model(cfg, prepared), prepared.dataset(cfg)
    train_cfg = replace(train_cfg, data=cfg.data).validate()
    if cfg.restarts > 1:
        train_cfg = _best_restart(cfg, train_cfg, prepared, dataset, meta, Path(out), callbacks, stop_event)
    trainer = Trainer(model, dataset, train_cfg, meta, out, accuracy_monitor(cfg, prepared), callbacks, stop_event)
    if cfg.restarts > 1:
        trainer.resume()  # the chosen candidate's weights, optimizer and RNG state
    return trainer.fit(), model, prepared


def check_restarts(cfg: ImageConfig, train_cfg: TrainConfig) -> None:
    """Raise ConfigError if ``cfg.restarts`` > 1 and ``cfg.restart_epochs`` >= ``train_cfg.epochs`` (the chosen
    candidate would have nothing left to continue)."""
    if cfg.restarts > 1 and cfg.restart_epochs >= train_cfg.epochs:
        raise ConfigError(f"restart_epochs={cfg.restart_epochs} leaves nothing to continue: it must be below "
                          f"epochs={train_cfg.epochs}")


def planned_epochs(cfg: ImageConfig, train_cfg: TrainConfig) -> int:
    """Epochs :func:`train_images` will run in all: every restart candidate's, then the rest of the chosen one's."""
    return train_cfg.epochs + (cfg.restarts - 1) * cfg.restart_epochs


def _new_model(cfg: ImageConfig, prepared: PreparedImages) -> nn.Module:
    return build_image_model(cfg, int(np.prod(prepared.train.shape)), tuple(prepared.train.shape))


def _best_restart(cfg: ImageConfig, train_cfg: TrainConfig, prepared: PreparedImages, dataset, meta: dict,
                  out: Path, callbacks: list[Callback] | None, stop_event: threading.Event | None) -> TrainConfig:
    """Train the restart candidates (see :func:`train_images`), move the best one's checkpoint to ``out``; returns
    its train config (the candidate's seed, all epochs)."""
    candidates: dict[int, tuple[Path, float]] = {}  # seed -> (checkpoint, objective)
    for index in range(cfg.restarts):
        seed = train_cfg.seed + 1000 * index
        seed_everything(seed)
        path = out.with_name(f"{out.stem}.restart{index}{out.suffix}")
        history = Trainer(_new_model(cfg, prepared), dataset, replace(train_cfg, seed=seed, epochs=cfg.restart_epochs),
                          meta, path, accuracy_monitor(cfg, prepared), callbacks, stop_event).fit()
        last = history.epochs[-1] if history.epochs else {}
        objective = last.get("reconstruction", float("inf")) + cfg.consistency * last.get("consistency", 0.0)
        candidates[seed] = (path, objective)
        if stop_event is not None and stop_event.is_set():
            break
    best = min(candidates, key=lambda seed: candidates[seed][1])
    for seed, (path, _) in candidates.items():
        if seed == best:
            path.replace(out)
        else:
            path.unlink(missing_ok=True)
    meta["card"]["restarts"] = [{"seed": seed, "objective": round(objective, 5), "kept": seed == best}
                                for seed, (_, objective) in candidates.items()]
    return replace(train_cfg, seed=best)


def images_to_show(cfg: ImageConfig, shape: tuple[int, int]) -> tuple[ImageData, str | None]:
    """Images to show a trained model with: the held-out rows of its own data (the training rows when none
    were held out), or, where its data file is not on this machine and it reads 28x28 images, the shipped
    MNIST held-out images (:data:`MNIST_HELD_OUT`). Returns the images and a note saying which were
    substituted (None for the model's own).

    Raises
    ------
    DataError
        If the model's data cannot be read and no substitute fits (the loader's message).
    """
    if cfg.data != EMBEDDED and not Path(cfg.data).exists() and tuple(shape) == (28, 28):
        return (load_images(MNIST_HELD_OUT, split="heldout"),
                f"{cfg.data} is not on this machine: showing the 2,000 held-out MNIST test images shipped in "
                f"assets/digits instead")
    prepared = prepare_images(cfg)
    return (prepared.held_out if prepared.held_out is not None else prepared.train), None


def shipped_image_models(folder: str | Path = SHIPPED) -> dict[str, Path]:
    """Shipped digit checkpoints by name (``digits_*.safetensors`` in ``folder``), sorted."""
    return {p.stem: p for p in sorted(Path(folder).glob("digits_*.safetensors"))}


def load_image_model(ckpt: Checkpoint, path: Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild an image model from a loaded checkpoint (called by :func:`aae_core.registry.load_model`)."""
    cfg = from_dict(ImageConfig, ckpt.meta["image_config"])
    shape = tuple(ckpt.meta["image_shape"])
    model = build_image_model(cfg, int(np.prod(shape)), shape)
    model.load_state_dict(ckpt.model_state)
    return LoadedModel(model.to(device).eval(), None, cfg, ckpt.meta, path)
