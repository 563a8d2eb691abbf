"""Latent map: where the encoder puts molecules, drawn over the prior it was trained to match."""

import streamlit as st

from aae_core import latent
from aae_core.exceptions import AAELabError
from aae_core.molecules import chem
from aae_core.molecules.generation import MoleculeGenerator
from dashboard import components, inputs
from dashboard.services import drawings, interpolation, latent_map, models

JOINT = (" is fitted on the codes and the prior samples together (and every other layer shown), so a group of "
         "prior samples apart from the codes is no artefact: no code is near them. It keeps neighbours together; "
         "distances between far-apart groups mean little.")
VIEW_NOTES = {
    "raw": "these are the model's own two latent axes.",
    "pca": "PCA keeps the two directions along which the codes vary most, and an isotropic Gaussian prior stays "
           "an isotropic Gaussian with the same sigma, centred on the projected origin. (Those are the directions "
           "where the codes spread most, so even well-matched codes look slightly wider than the prior here; and "
           "codes that overlap the prior here may still differ from it along the other directions: the numbers "
           "beside the map measure all of them.)",
    "umap": "UMAP" + JOINT,
    "tsne": "t-SNE" + JOINT,
}

st.title("Latent map")
st.caption("Each dot is one molecule's latent code z = E(x), shown in 2-D. The orange shading and rings are the "
           "prior p(z) that the discriminator pushed the codes towards: after good training the blue cloud of "
           "codes fills the orange one, and every region of the prior decodes into molecules.")
ref, loaded = components.current_model()
methods = latent.available_methods(loaded.config.latent_dim)
if not methods:
    st.warning(f"{ref.label} has a {loaded.config.latent_dim}-D latent space, which has no 2-D view. "
               "Pick a model with latent_dim >= 2 in the sidebar.")
    st.stop()

left, middle, right = st.columns([3, 2, 2])
method = left.radio("Projection", methods, format_func=latent.METHOD_LABELS.get, horizontal=True, key="map_method",
                    bind="query-params",
                    help="PCA is linear and fast (the prior is drawn exactly); UMAP and t-SNE bend space to "
                         "keep neighbours together (the prior is then estimated from projected samples).")
n = middle.selectbox("Training molecules", latent_map.MAP_SIZES, index=2, format_func="{:,}".format, key="map_points",
                     bind="query-params")
colour_by = right.selectbox("Colour by", ["dataset", *chem.PROPERTY_NAMES], key="map_colour", bind="query-params",
                            format_func=lambda name: chem.PROPERTY_LABELS.get(name, "dataset (training vs generated)"))
show_generated = left.checkbox(f"Add {latent_map.GENERATED_POINTS} generated molecules (encoded back)",
                               key="map_generated")
show_prior = middle.checkbox(f"Add {latent_map.PRIOR_POINTS:,} prior samples", key="map_prior")
if method in ("umap", "tsne") and n > latent_map.NONLINEAR_MAX_POINTS:
    st.caption(f"UMAP and t-SNE use the first {latent_map.NONLINEAR_MAX_POINTS:,} molecules: they are slow on a "
               "laptop CPU.")

smiles = st.text_input("Encode my molecule (SMILES)", key="map_smiles", placeholder="e.g. CC(=O)Nc1ccc(O)cc1",
                       help="It appears as a red star, with its nearest training molecules circled.")
yours = read = None
if smiles.strip():
    try:
        smiles = inputs.check_smiles(smiles, "your SMILES")
        yours = MoleculeGenerator(loaded).encode([smiles]).numpy()
        read = interpolation.read_back(*models.cache_key(loaded), smiles, loaded)
    except AAELabError as err:
        yours = None
        st.error(f"Cannot place this molecule: {err}. Check the SMILES (e.g. paste it from PubChem).")

if method == "umap" and latent_map.umap_warm_up().is_alive():
    progress = "Compiling UMAP (once per server start, about half a minute on a laptop CPU), then fitting it..."
else:
    progress = "Encoding training molecules and fitting the projection (once per model and setting)..."
with st.spinner(progress):
    try:
        view = latent_map.latent_map(loaded, n, method, show_generated, show_prior, yours)
    except (AAELabError, ValueError) as err:
        st.error(f"Cannot draw the map: {err}")
        st.stop()
    figure = components.latent_map_figure(view, colour_by)
    molecules = tuple(components.KIND_LABELS[kind] for kind in ("training", "generated"))
    latent_map.prior_on_top(figure, components.KIND_LABELS["prior"], molecules)
chart, numbers = st.columns([4, 1])
event = chart.plotly_chart(figure, key="latent_map", on_select="rerun", selection_mode=("box", "lasso"))
fit = view.prior_fit
numbers.markdown("**Do the codes fill the prior?**")
numbers.metric("two-sample ROC AUC", f"{fit['auc']:.2f}",
               help=f"Cross-validated ROC AUC of the better of two classifiers (logistic regression: "
                    f"{fit['auc_logistic']:.2f}; 15 nearest neighbours: {fit['auc_knn']:.2f}) told to separate the "
                    "codes from prior samples (Lopez-Paz & Oquab 2017). 0.5: they cannot; 1.0: they always can.")
numbers.metric("MMD² to the prior", f"{fit['mmd2']:.3f}",
               help="Squared maximum mean discrepancy (Gretton et al. 2012) between the codes and the prior samples, "
                    "Gaussian kernel with the median distance between prior samples as its width: 0 when the two "
                    "clouds match, at most 2.")
numbers.caption(f"Two sets of prior samples: MMD² {round(fit['mmd2_floor'], 3) + 0.0:.3f}.")  # no "-0.000"
numbers.markdown(latent_map.prior_fit_text(fit))
latent_map.umap_warm_up()  # the map is on screen: compile UMAP in the background for later
st.caption(("The prior is drawn exactly: " if view.overlay.exact else "The prior is estimated from projected samples "
            "(a KDE), because this view is non-linear: ") + VIEW_NOTES[method]
           + " Drag a box or lasso (toolbar, top right) to see the molecules under it.")
if yours is not None:
    st.subheader("Your molecule, the model's reading of it, and its nearest training molecules")
    (st.success if read.exact else st.warning)(interpolation.reading_text(
        "your molecule", read, "its latent neighbours and any path from it start from"))
    pictures = drawings.aligned_drawings([read.smiles, read.decoded])  # one bond length: sizes compare
    mine, model, near = st.columns([1, 1, 3])
    mine.image(pictures[0], caption="your molecule (the red star)")
    model.image(pictures[1], caption=f"the model's reading · Tanimoto {read.tanimoto:.2f}")
    with near:
        st.caption("Nearest by Euclidean distance between latent codes (in latent units), not in the 2-D view.")
        components.molecule_table(view.neighbours[["smiles", "distance"]], key="map_neighbours", selectable=False)

selected = latent_map.selected_rows(event, view.points)
if selected.empty:
    st.info("Select points with the box or lasso tool to list their molecules here.")
    st.stop()
st.subheader(f"{len(selected):,} selected molecule(s)")
shown = selected[["smiles", "kind"]].head(drawings.GRID_PAGE)
if len(selected) > len(shown):
    st.caption(f"Showing the first {len(shown)}.")
rows = components.molecule_table(shown, key="map_selection")
components.add_to_basket_button(shown, rows, "latent map", ref.label, key="map_basket")
