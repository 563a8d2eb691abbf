"""Interpolate: decode the latent path between two molecules and draw it step by step."""

import streamlit as st

from aae_core.exceptions import AAELabError
from dashboard import components, inputs, state
from dashboard.services import drawings, interpolation, models

STARTS = ("CC(=O)Nc1ccc(O)cc1", "Cc1ccc(S(=O)(=O)Nc2ccccn2)cc1")  # paracetamol, a sulfonamide
COLUMNS = 6

st.title("Interpolate")
st.caption("Both molecules are encoded, the path between their codes is cut into steps (a straight line, or a "
           "great-circle arc that keeps the codes' length, like prior samples), and each step is decoded "
           "greedily. A smooth latent space gives gradual chemical changes.")
ref, loaded = components.current_model()

basket = state.basket()
source = st.radio("Molecules", ["type SMILES", "pick from the basket"], horizontal=True, key="interp_source")
left, right = st.columns(2)
if source == "type SMILES":
    start = left.text_input("Start (SMILES)", STARTS[0], key="interp_start")
    end = right.text_input("End (SMILES)", STARTS[1], key="interp_end")
elif len(basket) < 2:
    st.info("The basket holds fewer than two molecules: add some on Sample & draw or Latent map, or type SMILES.")
    st.stop()
else:
    start = left.selectbox("Start", basket["smiles"], index=0, key="interp_basket_start")
    end = right.selectbox("End", basket["smiles"], index=1, key="interp_basket_end")
steps = left.slider("Steps", 3, 12, 8, key="interp_steps")
method = right.radio("Path", ["linear", "spherical"], horizontal=True, key="interp_method")

try:
    start, end = inputs.check_smiles(start, "the start SMILES"), inputs.check_smiles(end, "the end SMILES")
    path = interpolation.interpolation(*models.cache_key(loaded), start, end, steps, method, loaded)
except AAELabError as err:
    st.error(f"Cannot interpolate: {err}")
    st.stop()

st.subheader("How the model reads your two molecules")
st.caption("Each molecule's code decoded greedily (the first and last step of the path) next to the molecule, drawn "
           "at one bond length, with their Tanimoto similarity (Morgan fingerprints, radius 2): 1.00 is the same "
           "molecule. This model's codes keep a molecule's neighbourhood, not every atom (see its reconstruction "
           "accuracy on the Home page).")
for col, (what, smiles, decoded, from_it) in zip(st.columns(2), [
        ("the start", start, path["smiles"].iloc[0], "the path starts from"),
        ("the end", end, path["smiles"].iloc[-1], "the path ends at")], strict=True):
    read = interpolation.reading(smiles, decoded)
    pictures = drawings.aligned_drawings([read.smiles, read.decoded])  # one bond length: sizes compare
    yours, model = col.columns(2)
    yours.image(pictures[0], caption=f"{what}: your molecule")
    model.image(pictures[1], caption=f"the model's reading · Tanimoto {read.tanimoto:.2f}")
    (col.success if read.exact else col.warning)(interpolation.reading_text(what, read, from_it))

st.subheader("The path")
pictures = drawings.aligned_drawings(path["smiles"].tolist())
for first in range(0, len(path), COLUMNS):
    for col, (_, step), svg in zip(st.columns(COLUMNS), path.iloc[first: first + COLUMNS].iterrows(),
                                   pictures[first: first + COLUMNS], strict=False):
        marks = ("✓ valid" if step["valid"] else "✗ invalid") + (" · novel" if step["novel"] else "")
        col.image(svg, caption=f"t = {step['t']:.2f} · {marks}")
st.caption("Drawings are aligned on the ring scaffold of the start (or end) molecule where a step contains it, "
           "and drawn at one bond length. Novel: not in the shipped MOSES training set.")

rows = components.molecule_table(path[["t", "smiles", "valid", "novel"]], key="interp_table")
components.add_to_basket_button(path, rows, "interpolation", ref.label, key="interp_basket")
