"""Basket: the candidate molecules picked on the other pages, with their properties and exports."""

import streamlit as st

from dashboard import components, state
from dashboard.services import properties

st.title("Candidate basket")
st.caption("Molecules you picked on Sample & draw, Latent map and Interpolate. The basket lasts as long as this "
           "browser session; download it to keep it.")
basket = state.basket()
if basket.empty:
    st.info("The basket is empty: select rows on Sample & draw, Latent map or Interpolate and press "
            "**Add to the basket**.")
    st.stop()

frame = properties.with_properties(basket)
rows = components.molecule_table(frame, key="basket_grid")
left, right = st.columns(2)
if left.button(f"Remove {len(rows)} selected" if rows else "Select rows to remove them", disabled=not rows,
               key="basket_remove", icon=":material/delete:"):
    state.remove_from_basket(rows)
    st.rerun()
if right.button("Empty the basket", key="basket_clear", icon=":material/delete_sweep:"):
    state.remove_from_basket(list(range(len(basket))))
    st.rerun()
components.download_buttons(frame, "aae-lab-basket", key="basket_download")
