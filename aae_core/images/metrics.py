"""Classification and clustering accuracy of categorical image models (Makhzani et al. 2015, Sec. 5-6).

Cluster accuracy follows Sec. 6: each cluster is given one label (here the majority label of its
members in a reference set) and every member counts as classified with that label.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from aae_core.exceptions import DataError
from aae_core.images.semisupervised import CATEGORICAL_MODELS, CategoricalAAE


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Most likely class (or cluster) under q(y|x), (n,) int64, for ``images`` (n, pixels) float32."""
    model.eval()
    device = next(model.parameters()).device
    x = torch.as_tensor(images, dtype=torch.float32)
    parts = [model.classify({"x": x[i: i + batch_size].to(device)}).argmax(-1).cpu()
             for i in range(0, len(x), batch_size)]
    return torch.cat(parts).numpy()


def majority_mapping(clusters: np.ndarray, labels: np.ndarray, num_clusters: int) -> np.ndarray:
    """(num_clusters,) label given to each cluster: the most common label among its members (clusters with
    no member get -1, which never matches)."""
    mapping = np.full(num_clusters, -1, dtype=np.int64)
    for c in range(num_clusters):
        members = labels[clusters == c]
        if len(members):
            mapping[c] = np.bincount(members).argmax()
    return mapping


def cluster_accuracy(clusters: np.ndarray, labels: np.ndarray, mapping: np.ndarray | None = None) -> float:
    """Fraction of rows whose cluster's label equals their own label.

    Parameters
    ----------
    clusters, labels : (n,) int cluster ids and true labels.
    mapping : label of each cluster (e.g. from the training set); default: the majority mapping of
        ``clusters`` and ``labels`` themselves.
    """
    clusters, labels = np.asarray(clusters), np.asarray(labels)
    if clusters.shape != labels.shape or clusters.ndim != 1 or not len(labels):
        raise DataError(f"need two equal-length 1-D arrays, got shapes {clusters.shape} and {labels.shape}")
    if mapping is None:
        mapping = majority_mapping(clusters, labels, int(clusters.max()) + 1)
    return float((mapping[clusters] == labels).mean())


def evaluate_classifier(model: nn.Module, prepared, clustering: bool) -> dict[str, float]:
    """Held-out accuracy of a semi-supervised model, or for clustering the cluster accuracy on the training
    rows and on the held-out rows (mapped with the training rows' majority labels)."""
    held = prepared.held_out
    held_pred = predict(model, held.images)
    if not clustering:
        return {"held_out_accuracy": float((held_pred == held.labels).mean())}
    train_pred = predict(model, prepared.train.images)
    mapping = majority_mapping(train_pred, prepared.train.labels, model.num_classes)
    return {"train_cluster_accuracy": cluster_accuracy(train_pred, prepared.train.labels, mapping),
            "held_out_cluster_accuracy": cluster_accuracy(held_pred, held.labels, mapping)}


#: Prior styles :func:`conditional_accuracy` decodes with every class.
CONDITIONAL_STYLES = 200


def conditional_accuracy(model: nn.Module, styles: int = CONDITIONAL_STYLES, seed: int = 0) -> float:
    """Share of class-conditional decodings that the model's own q(y|x) reads as the class they were decoded
    with: ``styles`` style codes drawn from the prior (``torch.Generator`` seeded ``seed``), each decoded with every
    class (the style grid, Makhzani et al. 2015 Fig. 9), then classified. Near 1 when class and style are apart;
    near 1 / num_classes when the decoder ignores the class code because the style code carries the class too. The
    idea of scoring class-conditional samples with a classifier is AC-GAN's (Odena et al. 2017, Sec. 4.1), here
    with the model's own classifier.

    Raises
    ------
    DataError
        If ``model`` has no class code (not semi-supervised or clustering).
    """
    from aae_core.images.generation import style_grid

    if not isinstance(model, CategoricalAAE):
        raise DataError("conditional accuracy needs a class code: pick a semi-supervised or clustering model")
    z = model.prior.sample(styles, torch.Generator().manual_seed(seed)).numpy()
    grid = style_grid(model, z)  # (styles, num_classes, pixels)
    read = predict(model, grid.reshape(-1, grid.shape[2])).reshape(grid.shape[:2])
    return float((read == np.arange(grid.shape[1])).mean())


@torch.no_grad()
def reconstruction_error(model: nn.Module, images: np.ndarray, labels: np.ndarray | None = None) -> float:
    """Mean binary cross-entropy per pixel (nats) of x -> z -> x over ``images`` (n, pixels)."""
    from aae_core.images.generation import reconstruct

    recon = torch.as_tensor(reconstruct(model, images, labels)).clamp(1e-6, 1 - 1e-6)
    x = torch.as_tensor(images)
    return float(-(x * recon.log() + (1 - x) * (1 - recon).log()).mean())


def evaluate_image_model(model: nn.Module, prepared, model_name: str) -> dict[str, float]:
    """Card metrics: reconstruction error on the held-out rows (else the training rows) and, for
    semi-supervised and clustering models, :func:`conditional_accuracy` and (with held-out rows) their accuracies."""
    rows = prepared.held_out if prepared.held_out is not None else prepared.train
    labels = rows.labels if model_name == "supervised" else None
    metrics = {"reconstruction_bce": reconstruction_error(model, rows.images, labels)}
    if model_name in CATEGORICAL_MODELS and prepared.held_out is not None:
        metrics.update(evaluate_classifier(model, prepared, clustering=model_name == "clustering"))
    if model_name in CATEGORICAL_MODELS:
        metrics["conditional_accuracy"] = conditional_accuracy(model)
    return metrics


def logistic_baseline(prepared) -> float:
    """Held-out accuracy of scikit-learn's ``LogisticRegression`` (default settings, ``max_iter=1000``) fitted on
    the labelled training rows only: the supervised-only baseline for the semi-supervised experiments."""
    from sklearn.linear_model import LogisticRegression

    train, held = prepared.train, prepared.held_out
    rows = prepared.labelled if prepared.labelled is not None else np.arange(len(train))
    classifier = LogisticRegression(max_iter=1000).fit(train.images[rows], train.labels[rows])
    return float(classifier.score(held.images, held.labels))
