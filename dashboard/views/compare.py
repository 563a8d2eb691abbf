"""Compare runs: loss curves of several models side by side, and their generation metrics beside the MOSES
paper's."""

import streamlit as st

from aae_core.exceptions import AAELabError
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
keys = st.multiselect("Runs", list(choices), default=list(choices)[:4], format_func=lambda key: choices[key].label,
                      key="compare_runs")
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
x = cols[0].radio("x axis", list(components.X_LABELS), format_func=components.X_LABELS.get, horizontal=True,
                  key="compare_x")
weight = cols[1].slider("Smoothing", 0.0, 0.99, 0.6, 0.01, key="compare_smoothing",
                        help="Exponential moving average with bias correction (as in TensorBoard); the raw "
                             "curve is drawn faintly behind.")
log_y = cols[2].toggle("log y axis", key="compare_log_y")
curves = training.loss_table({name: loaded.history for name, loaded in runs.items()}, weight)
if curves.empty:
    st.info("These runs have no loss records yet (a run records its losses every log_every steps).")
else:
    st.plotly_chart(components.loss_figure(curves, x, log_y), key="compare_losses")
    st.download_button("Download the curves (CSV)", exports.to_csv(curves), "aae-lab-loss-curves.csv", "text/csv",
                       on_click="ignore", icon=":material/download:", key="compare_download")

st.subheader("Generation metrics")
if metrics.metrics_module() is None:
    st.warning("aae_core.molecules.metrics is not available in this installation, so there is no metrics table.")
    st.stop()
st.caption(f"MOSES metrics (Polykovskiy et al. 2020) of {metrics.METRICS_SAMPLES:,} samples per run against "
           f"{metrics.METRICS_REFERENCE:,} molecules of the MOSES test split; novelty against the shipped training "
           "cut. The paper's rows use 30,000 samples against all 176,074 test molecules, so FCD and SNN are only "
           "roughly comparable.")
computed = st.session_state[state.METRICS]
if st.button("Compute metrics of the selected runs", key="compare_metrics", icon=":material/calculate:"):
    with st.spinner("Sampling and scoring. The first time also prepares the reference statistics and the "
                    "training set, a few minutes on a laptop CPU; both are then cached on disk..."):
        for name, loaded in runs.items():
            try:
                computed[models.cache_key(loaded)] = metrics.run_metrics(*models.cache_key(loaded), loaded)
            except (AAELabError, ValueError) as err:
                st.error(f"Metrics of {name} failed: {err}")
rows = {name: computed[models.cache_key(loaded)] for name, loaded in runs.items()
        if models.cache_key(loaded) in computed}
st.dataframe(metrics.metrics_table(rows).style.format("{:.3f}", na_rep="–"))
