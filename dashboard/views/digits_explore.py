"""Digits: explore a trained image AAE - latent map over its prior, decoder manifold, style grid,
reconstructions (Makhzani et al. 2015, Fig. 2, 4, 7) and, for semi-supervised and clustering models, the images
counted by class and true digit. Same numbers as aae_core.images.generation."""

from __future__ import annotations

import json
import re

import numpy as np
import streamlit as st
import torch

from aae_core.exceptions import AAELabError
from aae_core.images.generation import (
    is_conditional,
    latent_codes,
    manifold,
    mosaic,
    num_labels,
    reconstruct,
    style_grid,
)
from aae_core.images.metrics import CONDITIONAL_STYLES, conditional_accuracy, predict
from aae_core.images.semisupervised import CategoricalAAE
from aae_core.images.training import ImageConfig, images_to_show, shipped_image_models
from aae_core.latent import prior_match, prior_overlay, project
from aae_core.registry import load_model
from dashboard import components
from dashboard.services.models import checkpoint_dir, mtime

ROWS = 2000  # images drawn on the latent map


@st.cache_resource(show_spinner="Loading model...")
def load(path: str):
    return load_model(path)


@st.cache_data(show_spinner="Loading images...")
def images_of(config_json: str, shape: tuple[int, int]):
    """Up to :data:`ROWS` images (and labels) to show the model with, and a note when they are substitutes
    (:func:`aae_core.images.training.images_to_show`)."""
    rows, note = images_to_show(ImageConfig(**json.loads(config_json)), shape)
    return rows.images[:ROWS], rows.labels[:ROWS] if rows.labels is not None else None, note


@st.cache_data(show_spinner=False)
def prior_fit(path: str, modified: float, _codes: np.ndarray) -> dict[str, float]:
    """:func:`aae_core.latent.prior_match` of the model at ``path`` on the codes of its shown images, cached per
    file and modification time (the images follow from the model's config)."""
    return prior_match(load(path).model.prior, _codes)


@st.cache_data(show_spinner=False)
def conditional(path: str, modified: float) -> float:
    """:func:`aae_core.images.metrics.conditional_accuracy` of the model at ``path``, cached per file and
    modification time."""
    return conditional_accuracy(load(path).model)


def without_folders(text: str) -> str:
    """``text`` with each absolute path cut to its file name: cards and messages name the data file, not the
    folders of the machine that trained the model."""
    return re.sub(r"(?<![\w.~-])/(?:[^\s/`'\"]+/)+([^\s/`'\"]+)", r"\1", text)


def picture(images: np.ndarray, shape, cols: int, caption: str) -> None:
    st.image(mosaic(images, shape, cols), caption=caption, clamp=True, width="stretch")


st.title("Digits: latent space and decoder")
models = {**shipped_image_models(checkpoint_dir()), **st.session_state.get("digits_trained", {})}
if not models:
    st.info("No digit model yet: train one on the Digits Training page, or run `aae-lab train-images`.")
    st.stop()
name = st.selectbox("Model", list(models), key="digits_model")
try:
    loaded = load(str(models[name]))
except (AAELabError, OSError) as err:
    st.error(f"Cannot use {name}: {without_folders(str(err))}")
    st.stop()
model, card, shape = loaded.model, loaded.meta.get("card", {}), tuple(loaded.meta["image_shape"])
st.caption(f"{loaded.config.model} model, prior {loaded.config.prior['name']}, code of {model.prior.dim} dims; "
           f"card: `{without_folders(card.get('command', 'n/a'))}`; {components.metrics_text(card.get('metrics', {}))}")
try:
    x, y, note = images_of(json.dumps(loaded.meta["image_config"]), shape)
except (AAELabError, OSError) as err:
    x = y = None
    st.warning(f"The images of {name} cannot be read ({without_folders(str(err))}); the latent map and "
               "reconstructions need them, the decoder manifold and style grid do not.")
else:
    if note:
        st.info(without_folders(note))

latent_tab, manifold_tab, style_tab, recon_tab, classes_tab = st.tabs(
    ["Latent map", "Decoder manifold", "Style grid", "Reconstructions", "Classes"])
with latent_tab:
    z = None if x is None else latent_codes(model, x)
    if z is None:
        st.info("No images to encode (see the warning above).")
    elif z.shape[1] != 2:
        st.info(f"The code has {z.shape[1]} dims; the latent map shows 2-D codes (train with latent_dim=2).")
    else:
        view = project(z, "raw")
        overlay = prior_overlay(model.prior, view, model.prior.sample(3000).numpy())
        fig = components.digits_latent_figure(z, y, overlay)
        st.plotly_chart(fig, key="digits_latent_map")
    if z is not None and len(z) >= 2:
        match = prior_fit(str(models[name]), mtime(models[name]), z)
        st.caption(f"How well the codes of these {len(z):,} images fill the prior: MMD² {match['mmd2']:.4f} "
                   f"against as many prior draws, where two sets of prior draws give {match['floor']:.4f} (squared "
                   f"maximum mean discrepancy, RBF kernel of bandwidth {match['bandwidth']:.2g}; 0 is a perfect "
                   "match, 2 the most).")

with manifold_tab:
    n = st.slider("Grid size", 5, 25, 15, key="digits_manifold_n")
    label = (st.selectbox("Decode with label", range(num_labels(model)), key="digits_manifold_label")
             if is_conditional(model) else None)
    try:
        _, images = manifold(model, n, label)
        picture(images, shape, n, "decoded 2-D latent grid over the central 96% of the prior in each axis")
    except AAELabError as err:
        st.info(str(err))

with style_tab:
    if not is_conditional(model):
        st.info("The style grid needs a label-conditioned model (supervised, semi-supervised, clustering).")
    else:
        rows = st.slider("Style rows", 1, 10, 5, key="digits_style_rows")
        seed = st.number_input("Seed", 0, 10_000, 0, key="digits_style_seed")
        styles = model.prior.sample(rows, torch.Generator().manual_seed(int(seed))).numpy()
        picture(style_grid(model, styles).reshape(-1, int(np.prod(shape))), shape, num_labels(model),
                "each row: one style z drawn from the prior, decoded with every "
                + ("cluster (no labels were used: each column is what one cluster learned)"
                   if loaded.config.model == "clustering" else "label"))
        if isinstance(model, CategoricalAAE):
            share = conditional(str(models[name]), mtime(models[name]))
            st.caption(f"Conditional accuracy {share:.0%}: of {CONDITIONAL_STYLES} prior styles decoded with each of "
                       f"the {model.num_classes} classes, the share this model's own classifier q(y|x) reads as the "
                       f"class asked for ({1 / model.num_classes:.0%} if the decoder ignored the class code). Where it "
                       "is low, the style code carries the class too and a row repeats one digit.")

with recon_tab:
    if x is None:
        st.info("No images to reconstruct (see the warning above).")
    else:
        count = st.slider("Images", 5, 50, 20, key="digits_recon_n")
        recon = reconstruct(model, x[:count], y[:count] if y is not None else None)
        picture(np.concatenate([x[:count], recon]), shape, count, "top: held-out images; bottom: reconstructions")

with classes_tab:
    if not isinstance(model, CategoricalAAE):
        st.info("Classes are read from q(y|x): pick a semi-supervised or clustering model.")
    elif x is None or y is None:
        st.info("No labelled images to compare the classes with (see the warning above).")
    else:
        clustering = loaded.config.model == "clustering"
        predicted = predict(model, x)
        st.plotly_chart(components.class_table_figure(predicted, y, model.num_classes, clustering),
                        key="digits_classes")
        st.caption(f"The {len(x):,} images the other tabs show, counted by true digit (columns) and by the "
                   + ("cluster q(y|x) puts them in; each cluster is named after its majority digit among them (→)."
                      if clustering else "class q(y|x) predicts; the diagonal holds the correct ones."))
