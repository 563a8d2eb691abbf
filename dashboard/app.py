"""aae-lab dashboard: ``streamlit run dashboard/app.py`` (or ``aae-lab dashboard``).

The entry point: page setup, the model selector and basket count in the sidebar (shared by every page),
the navigation, and the last line of defence that keeps tracebacks away from users.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import streamlit as st
import torch

from dashboard import state
from dashboard.services import data, models, training

# One intra-op thread by default: training threads and page reruns share the CPU without oversubscribing it
# (sampling uses every core through services.sampling.DECODE_WORKERS threads instead).
torch.set_num_threads(int(os.environ.get("AAE_LAB_THREADS", "1")))
st.set_page_config(page_title="aae-lab", page_icon=":material/hub:", layout="wide")  # server settings: .streamlit/
state.init()
data.preload()

trained = training.collect_trained_model()
if trained is not None:
    st.toast(f"{trained.label} is ready and selected in the sidebar.", icon=":material/check_circle:")

choices = models.model_choices()
with st.sidebar:
    if choices:
        if st.session_state.get(state.MODEL) not in choices:
            st.session_state[state.MODEL] = next(iter(choices))
        st.selectbox("Molecule model", list(choices), format_func=lambda key: choices[key].label, key=state.MODEL,
                     help="The molecule pages use this model: shipped models, then the ones you trained in "
                          "this session. The Digits pages pick their own.")
    else:
        st.warning("No molecule model found: train one on the Train page.")
    st.caption(f"Candidate basket: {len(state.basket())} molecule(s)")

navigation = {
    "Molecules": [
        st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("views/latent_map.py", title="Latent map", icon=":material/scatter_plot:"),
        st.Page("views/sample.py", title="Sample & draw", icon=":material/casino:"),
        st.Page("views/interpolate.py", title="Interpolate", icon=":material/timeline:"),
        st.Page("views/optimise.py", title="Optimise", icon=":material/trending_up:"),
        st.Page("views/basket.py", title="Basket", icon=":material/shopping_basket:"),
        st.Page("views/train.py", title="Train", icon=":material/model_training:"),
        st.Page("views/compare.py", title="Compare runs", icon=":material/compare_arrows:"),
    ],
    "Learn": [st.Page("views/divergences.py", title="Divergences", icon=":material/school:")],
}
# the image models' pages (aae_core.images.training)
digits = sorted((Path(__file__).parent / "views").glob("digits_*.py"))
if digits:
    navigation["Digits"] = [st.Page(f"views/{path.name}", title=path.stem.removeprefix("digits_").capitalize())
                            for path in digits]
page = st.navigation(navigation)
try:
    page.run()
except Exception:  # pages handle the errors they expect; this catches the ones they did not
    logging.getLogger("aae_lab.dashboard").exception("page %r failed", page.title)
    st.error("This page hit an unexpected problem (the details are in the server log). Try other settings, "
             "pick another model, or reload the page.")
