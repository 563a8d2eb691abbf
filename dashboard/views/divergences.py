"""Divergences: why adversarial autoencoders match distributions the way they do (KL vs JS vs Wasserstein)."""

import numpy as np
import streamlit as st

from aae_core import latent
from dashboard import components
from dashboard.services import divergences

st.title("Divergences: how far apart are two distributions?")
st.markdown(
    "An autoencoder's codes form a distribution q(z); we want it to match the prior p(z). A **VAE** pulls each "
    "code towards the prior with a **KL** term, which needs the prior's formula. An **AAE** instead trains a "
    "discriminator to tell codes from prior samples; at its best this measures the **Jensen-Shannon** (JS) "
    "divergence (Goodfellow et al. 2014), and it only needs *samples* of the prior, so any shape works "
    "(mixtures, a swiss roll). **Wasserstein-1** (earth mover's distance) is the alternative that WGANs and WAEs "
    "use. Move Q away from P and watch the three behave differently.")

cols = st.columns(3)
shape = cols[0].radio("Shape", latent.SHAPES, format_func=str.capitalize, horizontal=True, key="div_shape")
width = cols[1].slider("Width (Gaussian sigma, or uniform width)", 0.05, 2.0, 0.3, 0.05, key="div_width")
shift = cols[2].slider("Shift of Q", float(divergences.SHIFTS[0]), float(divergences.SHIFTS[-1]), 1.0, 0.05,
                       key="div_shift")

curve = divergences.divergence_curve(shape, width)
x = latent.divergence_grid(width, float(np.abs(divergences.SHIFTS).max()))
p, q = latent.shifted_pair(shape, width, shift, x)
now = latent.divergences(p, q, x)
slope = curve.iloc[int(np.abs(curve["shift"] - shift).argmin())]

st.plotly_chart(components.densities_figure(x, p, q), key="div_densities")
cols = st.columns(3)
for col, name, unit in zip(cols, ("KL", "JS", "W1"), ("nats", "nats", "units of z"), strict=True):
    value = "∞" if np.isinf(now[name]) else f"{now[name]:.3f} {unit}"
    gradient = slope[f"d{name}"]
    col.metric(name, value, help="the slope is the change per unit of shift: the gradient a generator would follow")
    col.caption("slope: " + ("undefined" if not np.isfinite(gradient) else f"{gradient:.3g}"))
st.plotly_chart(components.divergence_figure(curve, shift), key="div_curves")
st.caption("With a narrow width, or the uniform shape, try shifts beyond the width: KL becomes infinite (Q gives "
           "no mass where P has some), JS stays at ln 2 ≈ 0.693 with slope 0, so a generator trained on it gets "
           "no signal which way to move (Arjovsky et al. 2017), while W1 grows with the distance. In practice the "
           "AAE's discriminator is a smooth network, and the codes and the prior overlap from the start, which "
           "keeps its gradients useful.")
