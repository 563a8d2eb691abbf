"""The Divergences page's curves: KL, JS and W1 of two 1-D distributions as one is shifted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from aae_core import latent

SHIFTS = np.linspace(-4.0, 4.0, 161)  # shifts of Q on the Divergences page


@st.cache_data(show_spinner=False, max_entries=64)
def divergence_curve(shape: str, width: float) -> pd.DataFrame:
    """:func:`aae_core.latent.divergence_curve` over :data:`SHIFTS`, on the grid of the largest shift."""
    return latent.divergence_curve(shape, width, SHIFTS)
