"""Digits: train an image AAE without blocking the page. A worker thread (no Streamlit calls) runs
aae_core.images.training.train_images; a fragment polls its progress every second. Same as `aae-lab train-images`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from aae_core.config import TrainConfig
from aae_core.exceptions import AAELabError
from aae_core.images.semisupervised import CATEGORICAL_MODELS
from aae_core.images.training import IMAGE_MODELS, ImageConfig, check_restarts, planned_epochs
from dashboard import components, inputs, state
from dashboard.services import training, uploads

PRIORS = {"gaussian": {"name": "gaussian", "sigma": 5.0}, "mixture": {"name": "mixture", "k": 10},
          "swiss_roll": {"name": "swiss_roll"}, "uniform": {"name": "uniform"}}


st.title("Digits: train an adversarial autoencoder")
with st.form("digits_train_form"):
    family = st.selectbox("Model", list(IMAGE_MODELS), key="digits_train_model")
    prior = st.selectbox("Prior (style prior for supervised / semi-supervised / clustering)", list(PRIORS),
                         key="digits_train_prior")
    left, right = st.columns(2)
    latent_dim = left.number_input("Code dims (latent_dim)", 1, 64, 2, key="digits_train_latent")
    labels = left.number_input("Labelled images (label-prior, semi-supervised; 0 = all)", 0, 60000, 100, step=10,
                               key="digits_train_labels")
    clusters = left.number_input("Classes / clusters", 2, 64, 10, key="digits_train_clusters")
    hidden = right.number_input("Hidden units", 8, 2000, 256, key="digits_train_hidden")
    epochs = right.number_input("Epochs", 1, 1000, 20, key="digits_train_epochs")
    seed = right.number_input("Seed", 0, 10_000, 0, key="digits_train_seed")
    with st.expander("Beyond the paper: augmentation, consistency, restarts, learning-rate drop "
                     "(bench/bench_images.py)"):
        cols = st.columns(3)
        shift = cols[0].number_input("Random shift (pixels)", 0, 4, 0, key="digits_train_shift",
                                     help="each image moves by up to this many pixels; 2 helps on MNIST")
        rotation = cols[1].number_input("Random rotation (degrees)", 0.0, 180.0, 0.0, 5.0, key="digits_train_rotation",
                                        help="each image turns by up to this angle; 15 helps MNIST clustering")
        zoom = cols[2].number_input("Random zoom (fraction)", 0.0, 0.5, 0.0, 0.05, key="digits_train_zoom",
                                    help="each image is scaled by 1 +/- up to this; 0.1 helps MNIST clustering")
        noise = cols[0].number_input("Input noise (std)", 0.0, 1.0, 0.0, 0.05, key="digits_train_noise")
        consistency = cols[1].number_input(
            "Consistency weight", 0.0, 50.0, 0.0, 1.0, key="digits_train_consistency",
            help="semi-supervised and clustering: q(y|x) must agree between two perturbed passes "
                 "(20 in the shipped clustering model)")
        neighbours = cols[2].number_input(
            "Neighbour pairs (k)", 0, 50, 0, key="digits_train_neighbours",
            help="with a consistency weight: the second pass reads the image or one of its k nearest images "
                 "(cosine distance between the images as the encoder reads them) instead; 5 helps MNIST clustering")
        straighten = cols[0].checkbox("Deskew", key="digits_train_deskew",
                                      help="the encoder reads each digit centred and with its slant undone")
        restarts = cols[1].number_input(
            "Restarts", 1, 10, 1, key="digits_train_restarts",
            help="train this many candidates for the restart epochs and continue the one with the lowest "
                 "reconstruction + consistency loss (no labels used); 4 in the shipped clustering model")
        restart_epochs = cols[2].number_input("Restart epochs", 1, 999, 20, key="digits_train_restart_epochs",
                                              help="epochs each restart candidate trains; below Epochs")
        milestone = cols[0].number_input(
            "Learning rate x0.1 after epoch (0 = never)", 0, 999, 0, key="digits_train_milestone",
            help="every learning rate drops tenfold after this epoch; 120 of 150 in the shipped clustering model")
    files = st.file_uploader("Own MNIST-format data (default: the embedded 8x8 digits; at most "
                             f"{inputs.IMAGE_MAX_BYTES // 2**20} MiB a file, unpacked)", accept_multiple_files=True,
                             key="digits_train_files")  # the server's upload limit is IMAGE_MAX_BYTES
    submitted = st.form_submit_button("Train")

job = st.session_state.get("digits_job")
if submitted:
    try:
        data, label_file = uploads.save_image_uploads(files, state.session_dir()) if files else ("digits", None)
        cfg = ImageConfig(model=family, data=data, labels=label_file, latent_dim=int(latent_dim),
                          num_classes=int(clusters), hidden_dim=int(hidden), discriminator_dims=[int(hidden)] * 2,
                          prior=PRIORS[prior] if family != "label-prior" else {"name": "mixture", "k": int(clusters)},
                          num_labels=int(labels) if labels and family in ("label-prior", "semi-supervised") else None,
                          holdout=0.2 if family in CATEGORICAL_MODELS else 0.0, input_shift=int(shift),
                          input_rotation=float(rotation), input_zoom=float(zoom), input_noise=float(noise),
                          consistency=float(consistency), neighbours=int(neighbours),
                          deskew=bool(straighten), restarts=int(restarts),
                          restart_epochs=int(restart_epochs)).validate()
        train_cfg = TrainConfig(epochs=int(epochs), batch_size=100, seed=int(seed), lr_gamma=1.0, log_every=1,
                                checkpoint_every=10**9, lr_milestones=[int(milestone)] if milestone else []).validate()
        check_restarts(cfg, train_cfg)
        job = st.session_state["digits_job"] = training.start_image_training(cfg, train_cfg,
                                                                            planned_epochs(cfg, train_cfg))
    except AAELabError as err:
        # No st.stop() here: the progress below must be drawn in this run too. A run that stopped before it would
        # leave the fragment of the previous run registered, and a poll already on its way would redraw that
        # fragment where this message stands, replacing it.
        st.error(f"Cannot train: {err}")
running = job is not None and job.running


def progress() -> None:
    """The session's run: progress bar, losses per step, epochs table and, at the end, its metrics; polled every
    second while it runs."""
    if job is None:
        st.info("Set the options and press Train; the 8x8 digits train in seconds to minutes.")
        return
    still_running = job.running
    steps, epochs = list(job.steps), list(job.epochs)  # copies: the worker thread appends to the lists meanwhile
    if still_running and st.button("Stop", key="digits_train_stop"):
        job.cancel()
    if steps:
        last = steps[-1]
        st.progress(min(1.0, (len(epochs) + last["batch"] / last["batches"]) / job.total_epochs),
                    text=f"epoch {last['epoch'] + 1}, batch {last['batch']}/{last['batches']} "
                         f"({len(epochs)} of {job.total_epochs} epochs done)")
        terms = pd.DataFrame(steps).drop(columns=["epoch", "batch", "batches", "time_s"]).set_index("step")
        st.line_chart(terms, x_label="step (one batch)", y_label="loss")
    if epochs:
        st.dataframe(pd.DataFrame(epochs), hide_index=True)
    if job.error:
        st.error(f"Training failed: {job.error}")
    elif not still_running and job.metrics is not None:
        st.success(f"Done: {components.metrics_text(job.metrics)}. The model is listed on the Digits Explore page.")
        st.session_state.setdefault("digits_trained", {})[Path(job.path).stem] = Path(job.path)
    if running and not still_running:
        st.rerun(scope="app")  # the run just ended: redraw the page once, without polling


st.fragment(progress, run_every=1.0 if running else None)()
