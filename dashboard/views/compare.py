"""Compare runs: loss curves of several models side by side, aligned by step, epoch or fraction of training; their
generation metrics beside the MOSES paper's, their latent-space numbers, and where they sit between sampling valid
molecules and encoding faithfully."""

import time

import streamlit as st

from aae_core.exceptions import AAELabError
from aae_core.molecules.latent_quality import frontier_figure
from dashboard import components, state
from dashboard.services import exports, metrics, models, training

st.title("Compare runs")
st.caption("Loss curves as recorded during training. Reconstruction falls as the autoencoder learns; the "
           "adversarial losses hover near ln 2 when the discriminator can no longer tell codes from prior "
           "samples, which is what the AAE aims for.")
choices = models.model_choices()
if not choices:
    st.info("No model to compare yet: train one on the Train page.")
    st.stop()
keys = st.multiselect("Runs", list(choices), default=training.compare_defaults(choices),
                      format_func=lambda key: choices[key].label, key="compare_runs",
                      help="Preselected: an AAE and a VAE trained on the same 20,000 molecules for one epoch "
                           "(aae_small_moses, vae_small_moses), and the models you trained in this session.")
if not keys:
    st.info("Pick at least one run.")
    st.stop()
runs = {}
for key in keys:
    try:
        runs[choices[key].label] = models.load(choices[key])
    except AAELabError as err:
        st.warning(f"{choices[key].label} is left out: {err}")

cols = st.columns(3)
x = cols[0].radio("Align runs by", list(training.ALIGNMENTS), format_func=training.ALIGNMENTS.get, horizontal=True,
                  key="compare_x", help="Fraction of training stretches every run over [0, 1], so a run of 60 "
                                        "steps shows beside one of 5,859.")
weight = cols[1].slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key="compare_smoothing",
                        help="Exponential moving average with bias correction (as in TensorBoard); the raw "
                             "curve is drawn faintly behind.")
log_y = cols[2].toggle("log y axis", key="compare_log_y")
curves = training.loss_table({name: loaded.history for name, loaded in runs.items()}, weight)
if curves.empty:
    st.info("These runs have no loss records yet (a run records its losses every log_every steps).")
else:
    if x in components.X_LABELS:
        figure = components.loss_figure(curves, x, log_y)
    else:  # an axis components.X_LABELS has no title for: drawn as "step", then titled
        figure = components.loss_figure(curves.assign(step=curves[x]), "step", log_y)
        figure.update_xaxes(title_text=training.ALIGNMENTS[x])
    st.plotly_chart(figure, key="compare_losses")
    st.download_button("Download the curves (CSV)", exports.to_csv(curves), "aae-lab-loss-curves.csv", "text/csv",
                       on_click="ignore", icon=":material/download:", key="compare_download")

st.subheader("Generation metrics and latent space")
if metrics.metrics_module() is None:
    st.warning("aae_core.molecules.metrics is not available in this installation, so there is no metrics table.")
    st.stop()
st.caption(f"MOSES metrics (Polykovskiy et al. 2020) of {metrics.METRICS_SAMPLES:,} samples per run against "
           f"{metrics.METRICS_REFERENCE:,} molecules of the MOSES test split; novelty against the shipped training "
           "cut. The paper's rows use 30,000 samples against all 176,074 test molecules, so FCD and SNN are only "
           f"roughly comparable. Latent space, on {metrics.LATENT_HELD_OUT} MOSES test molecules: **prior AUC**, how "
           "well classifiers tell their codes from prior draws (0.5: the codes fill the prior); **MMD²** between "
           "the two; **exact reconstruction**, the share decoded back to the same molecule; **neighbour / random "
           f"Tanimoto**, how much more alike a molecule's 5 nearest codes among {metrics.LATENT_POOL:,} training "
           "molecules are than 5 random ones (1: neighbourhoods carry no chemistry).")
computed = st.session_state[state.METRICS]
latent = st.toggle("Also measure the latent space (about as long again)", key="compare_latent",
                   help="Prior AUC, MMD², exact reconstruction and neighbour similarity of each run, and its place "
                        "on the figure below.")
if st.button("Compute metrics of the selected runs", key="compare_metrics", icon=":material/calculate:"):
    bar, started = st.progress(0.0, text="Starting..."), time.perf_counter()
    for number, (name, loaded) in enumerate(runs.items(), start=1):

        def report(stage: str, done: int, total: int, name: str = name, number: int = number) -> None:
            bar.progress(min(done / total, 1.0) if total else 1.0,
                         text=f"{name} ({number} of {len(runs)}): {stage}, {done:,} of {total:,}")

        try:
            computed[models.cache_key(loaded)] = metrics.run_metrics(*models.cache_key(loaded), loaded, report, latent)
        except (AAELabError, ValueError) as err:
            st.error(f"Metrics of {name} failed: {err}")
    bar.progress(1.0, text=f"{len(runs)} run(s) scored in {time.perf_counter() - started:.0f} s.")
rows = {name: computed.get(models.cache_key(loaded)) or metrics.known(*models.cache_key(loaded))
        for name, loaded in runs.items()}
rows = {name: values for name, values in rows.items() if values is not None}
table = metrics.metrics_table(rows)
st.dataframe(table, placeholder="—", key="compare_table",
             column_config={"_index": st.column_config.TextColumn("run", width="large"),
                            **{name: st.column_config.NumberColumn(name, format=fmt)
                               for name, fmt in metrics.column_formats(table).items()}})
st.caption("— : not measured. Runs get their numbers with the button above. The paper reports no latent-space "
           "numbers, no property distances (logP, SA, QED, weight) and no KL or FCD score; unique@10000 needs "
           "10,000 samples (here 1,000). Lower is better for FCD, MMD² and the property distances.")

points = metrics.frontier_points(runs, rows)
st.plotly_chart(frontier_figure(points), key="compare_frontier")
st.caption("Each run at its prior validity and exact reconstruction: from its model card where it was measured "
           "(bench/bench_latent_space.py --annotate or aae-lab compare --annotate), else from the numbers above once "
           "the latent space is measured. The published points are ZINC models trained for days on GPUs.")
