"""Digits: semi-supervised accuracy vs number of labels (Makhzani et al. 2015, Sec. 5, Table 2), as measured
by bench/bench_images.py, next to logistic regression on the same labels; the baseline can be recomputed
here on the embedded digits for any number of labels."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from aae_core.exceptions import AAELabError
from aae_core.images.accuracy_table import read_accuracy_table, summarise
from aae_core.images.metrics import logistic_baseline
from aae_core.images.training import ACCURACY_TABLE, ImageConfig, prepare_images
from dashboard import components


@st.cache_data(show_spinner="Fitting logistic regression...")
def baseline(num_labels: int) -> float:
    cfg = ImageConfig(model="semi-supervised", data="digits", holdout=0.2, num_labels=num_labels)
    return logistic_baseline(prepare_images(cfg))


st.title("Digits: semi-supervised accuracy vs labels")
if not ACCURACY_TABLE.is_file():
    st.info(f"No benchmark table yet: run `python bench/bench_images.py` to write {ACCURACY_TABLE.name}.")
else:
    try:
        summary = summarise(read_accuracy_table(ACCURACY_TABLE))
    except AAELabError as err:
        st.error(str(err))
    else:
        fig = px.line(summary.fillna({"std": 0.0}), x="labels", y="accuracy", error_y="std", color="method",
                      facet_col="dataset", markers=True, log_x=True, facet_col_spacing=0.08,
                      color_discrete_sequence=components.RUN_COLORS)
        fig.update_yaxes(range=[0.5, 1.0], matches=None)
        st.plotly_chart(fig, key="digits_accuracy_chart")
        percent = st.column_config.NumberColumn(format="percent")
        st.dataframe(summary, hide_index=True, column_config={
            "accuracy": st.column_config.NumberColumn("mean accuracy", format="percent"), "std": percent,
            "per_seed": "accuracy per seed (%)", "cpu_s": st.column_config.NumberColumn("mean CPU s", format="%.0f")})
        st.caption("Held-out accuracy on a fixed stratified split (seed 0): MNIST test set 8,000 train / 2,000 held "
                   "out; scikit-learn digits 80% / 20%. Labels: the same number from each class, drawn with seed 0. "
                   "The AAE is trained once per seed (`bench/bench_images.py --seeds ...`): points are the mean, "
                   "bars one standard deviation; the shipped models are seed 0. Logistic regression has no seed.")

st.subheader("Logistic-regression baseline on the embedded digits")
labels = st.number_input("Labelled images (a multiple of 10)", 10, 1430, 100, step=10, key="digits_accuracy_labels")
try:
    st.metric("Held-out accuracy", f"{baseline(int(labels)):.1%}")
except AAELabError as err:
    st.error(str(err))
