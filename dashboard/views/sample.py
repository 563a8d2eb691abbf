"""Sample & draw: molecules decoded from prior samples, with batch quality, filters, basket and exports."""

import dataclasses

import streamlit as st

from aae_core.molecules import chem
from dashboard import components, state
from dashboard.services import models, properties, sampling

st.title("Sample & draw")
st.caption("Each molecule comes from one point z drawn from the prior p(z), decoded token by token into a SMILES "
           "string. Temperature below 1 makes the decoder pick likely tokens (safer, less varied), above 1 "
           "riskier ones.")
ref, loaded = components.current_model()

with st.form("sample_form"):
    left, middle, right = st.columns(3)
    n = left.number_input("Molecules", 1, 5_000, 1_000, step=100, key="sample_n")
    temperature = middle.slider("Temperature", 0.1, 2.0, 1.0, 0.1, key="sample_temperature")
    seed = right.number_input("Seed", 0, 2**31 - 1, 0, key="sample_seed", help="Same seed, same molecules.")
    if st.form_submit_button("Sample", type="primary", icon=":material/casino:"):
        with st.spinner(f"Sampling and describing {n:,} molecules..."):
            st.session_state[state.BATCH] = sampling.sample_batch(*models.cache_key(loaded), int(n),
                                                                  float(temperature), int(seed), loaded)

batch = st.session_state[state.BATCH]
if batch is None:
    st.info("Choose how many molecules to draw and press **Sample**.")
    st.stop()
stats = sampling.batch_stats(batch.frame)
cols = st.columns(4)
cols[0].metric("Validity", f"{stats['validity']:.1%}", help="valid SMILES / all samples")
cols[1].metric("Uniqueness", f"{stats['uniqueness']:.1%}", help="distinct valid molecules / valid molecules")
cols[2].metric("Novelty", f"{stats['novelty']:.1%}", help="distinct valid molecules not in the shipped MOSES "
                                                         "training set / distinct valid molecules")
cols[3].metric("Batch", f"{len(batch.frame):,}", help=str(batch.settings))
st.caption(f"Sampled from {batch.settings['model']} at temperature {batch.settings['temperature']}, "
           f"seed {batch.settings['seed']}.")

with st.expander("Filters", icon=":material/filter_alt:"):
    sliders = st.columns(4)
    ranges = {name: sliders[i].slider(chem.PROPERTY_LABELS[name], *bounds, bounds, key=f"filter_{name}")
              for i, (name, bounds) in enumerate(sampling.PROPERTY_RANGES.items())}
    checks = st.columns(4)
    filters = sampling.Filters(
        ranges, lipinski=checks[0].checkbox("Lipinski rule of five (at most 1 violation)", key="filter_lipinski"),
        smarts=checks[1].text_input("Must contain (SMARTS)", key="filter_smarts", placeholder="e.g. c1ccccc1"),
        valid_only=checks[2].checkbox("valid only", True, key="filter_valid"),
        unique_only=checks[3].checkbox("first copy of each molecule only", True, key="filter_unique"))
try:
    shown = sampling.apply_filters(batch.frame, filters)
except ValueError as err:
    st.error(f"The substructure filter is ignored: {err}")
    shown = sampling.apply_filters(batch.frame, dataclasses.replace(filters, smarts=""))

st.caption(f"{len(shown):,} of {len(batch.frame):,} molecules pass the filters. Select rows to add them to the "
           "candidate basket (it keeps them while you visit other pages).")
page, number = components.page_of(shown, key="sample_page")
page = properties.with_properties(page)  # only the rows on screen, unless a property filter needed them all
rows = components.molecule_table(page, key=f"sample_grid_{number}")
components.add_to_basket_button(page, rows, "sample", ref.label, key="sample_basket")
st.markdown("**Export the filtered batch**")
components.download_buttons(shown, "aae-lab-batch", key="batch_download")
