"""Optimise: search the latent space around a start molecule for analogues that improve a property."""

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from aae_core import latent
from aae_core.exceptions import AAELabError
from aae_core.molecules.optimization import Constraints, SearchConfig
from dashboard import components, inputs, jobs, state
from dashboard.services import drawings, latent_map, optimization

START = "CC(C)Cc1ccc(C(C)C(=O)O)cc1"  # ibuprofen
METHODS = {"cmaes": "CMA-ES (evolution strategy)", "gradient": "gradient ascent on a property regressor"}
WINDOW_RANGES = {"logp": (-5.0, 10.0, 0.5), "mw": (100.0, 800.0, 10.0)}
LIPINSKI = ["no limit", 0, 1, 2, 3, 4]
MAP_MOLECULES = 2_000

st.title("Optimise a lead")
st.caption("The start molecule is encoded and its code fitted to the decoder; a search then proposes codes around "
           "it, decodes each into a molecule (by default writing the start's SMILES up to a point, 80%, 60% or 40% "
           "of it, and letting the code choose the rest) and scores the real molecule (RDKit), never a prediction. "
           "Molecules that keep every constraint and score higher than the start are your candidate analogues "
           "(constrained optimisation as in Jin et al. 2018, JT-VAE).")
ref, loaded = components.current_model()
job = st.session_state.get(optimization.JOB)
running = job is not None and job.running

st.subheader("1. Start molecule")
basket = state.basket()
source = st.radio("Start from", ["type SMILES", "pick from the basket"], horizontal=True, key="opt_source",
                  disabled=running)
pick, picture = st.columns([3, 1])
if source == "type SMILES":
    smiles = pick.text_input("Start molecule (SMILES)", START, key="opt_smiles", disabled=running,
                             bind="query-params")
elif basket.empty:
    pick.info("The basket is empty: add molecules on Sample & draw, Latent map or Interpolate, or type SMILES.")
    st.stop()
else:
    smiles = pick.selectbox("Start molecule", basket["smiles"], key="opt_basket", disabled=running)

st.subheader("2. Objective and constraints")
left, right = st.columns(2)
label = left.selectbox("Objective (maximised)", list(optimization.OBJECTIVES), key="opt_objective", disabled=running)
spec, default = optimization.OBJECTIVES[label]
window = None
if default is not None:
    low, high, step = WINDOW_RANGES[spec.split("[")[0]]
    window = left.slider("Window: scores 0 inside, minus the distance outside", low, high, default, step,
                         key=f"opt_window_{spec.split('[')[0]}", disabled=running)
smarts = left.text_input("Must keep this substructure (SMARTS, optional)", key="opt_smarts", disabled=running,
                         placeholder="e.g. c1ccncc1 (pyridine) or S(=O)(=O)N (sulfonamide)")
min_similarity = right.slider("Minimum similarity to the start (Tanimoto, Morgan radius 2)", 0.0, 1.0, 0.4, 0.05,
                              key="opt_min_similarity", disabled=running, bind="query-params",
                              help="0.4 and 0.6 are the thresholds of the JT-VAE benchmark.")
lipinski = right.selectbox("Lipinski rule-of-five violations, at most", LIPINSKI, key="opt_lipinski",
                           disabled=running)

st.subheader("3. Search")
left, middle, right = st.columns(3)
method = left.radio("Method", list(METHODS), format_func=METHODS.get, key="opt_method", disabled=running,
                    help="CMA-ES needs no gradient; gradient ascent first fits a regressor from codes to properties "
                         "(tens of seconds, once per model and seed).")
budget = middle.slider("Budget (molecules decoded)", 50, optimization.MAX_BUDGET, 500, 50, key="opt_budget",
                       disabled=running, bind="query-params")
seed = right.number_input("Seed", 0, 2**32 - 1, 0, key="opt_seed", disabled=running,
                          help="The same seed gives the same search, here and with `aae-lab optimize --seed`.")
with st.expander("Advanced search settings"):
    cols = st.columns(3)
    popsize = cols[0].slider("Batch size (CMA-ES population)", 4, 64, SearchConfig.popsize, 4, key="opt_popsize",
                             disabled=running)
    sigma0 = cols[1].slider("Step size (latent units)", 0.1, 2.0, SearchConfig.sigma0, 0.1, key="opt_sigma0",
                            disabled=running)
    refine = cols[2].slider("Adam steps fitting the start code", 0, 500, SearchConfig.refine_steps, 50,
                            key="opt_refine", disabled=running, bind="query-params",
                            help="0 searches from the encoder's own code, which often decodes to another molecule.")
    anchored = st.toggle("Anchor on the start's SMILES", True, key="opt_anchored", disabled=running,
                         help="One search per share of the start's SMILES tokens "
                              f"({', '.join(f'{a:.0%}' for a in SearchConfig.anchors)}), each with its part of the "
                              "budget: every molecule it decodes starts with that part of the start's SMILES, so it "
                              "keeps it (0%: free decoding). Off: every molecule is decoded freely.")

try:
    smiles = inputs.check_smiles(smiles, "the start SMILES")
    smarts = inputs.check_length(smarts, inputs.MAX_SMARTS_CHARS, "the SMARTS pattern")
    objective = optimization.objective_spec(label, window)
    constraints = Constraints(min_similarity, (smarts,) if smarts else (), None if lipinski == "no limit" else lipinski)
    config = SearchConfig(method, int(budget), int(popsize), float(sigma0), refine_steps=int(refine), seed=int(seed),
                          anchors=SearchConfig.anchors if anchored else (0.0,))
    config.check()
    start = optimization.start_values(smiles, objective, constraints)
except AAELabError as err:
    st.error(f"Cannot optimise: {err}")
    st.stop()
picture.image(drawings.drawing(start["smiles"]), caption=f"start · objective {start['objective']:.3f}")

session = get_script_run_ctx().session_id if get_script_run_ctx() else ""
if st.button("Optimise", type="primary", icon=":material/rocket_launch:", key="opt_start", disabled=running):
    try:
        st.session_state[optimization.JOB] = optimization.start_search(optimization.OptimizationJob(
            loaded, ref.label, smiles, objective, constraints, config, lambda: jobs.streamlit_session_alive(session)))
    except AAELabError as err:
        st.error(f"Cannot start: {err}")
        st.stop()
    st.rerun()

if job is None:
    st.stop()


def progress() -> None:
    """The session's search: progress, best so far, every proposal against the start; polled while it runs."""
    current = st.session_state[optimization.JOB]
    found = current.found()
    st.progress(current.progress, text=f"{current.status} · {current.evaluations:,} of {current.config.budget:,} "
                                       f"molecules decoded · {len(found):,} keep every constraint · "
                                       f"{current.elapsed_s:.0f} s")
    if current.running and st.button("Cancel (keeps what was found)", key="opt_cancel", icon=":material/stop:"):
        current.cancel()
    if current.error:
        st.error(f"The search failed: {current.error}")
    proposals = current.proposals_frame()
    cols = st.columns(4)
    cols[0].metric("start objective", f"{current.start_row['objective']:.3f}")
    if len(found):
        best = found.iloc[0]
        cols[1].metric("best objective found", f"{best['objective']:.3f}",
                       f"{best['objective'] - current.start_row['objective']:+.3f}")
        cols[2].metric("its similarity to the start", f"{best['similarity']:.2f}")
    cols[3].metric("valid decodings", f"{proposals['valid'].mean():.0%}" if len(proposals) else "–")
    chart, pictures = st.columns([3, 1])
    chart.plotly_chart(optimization.proposals_figure(current), key="opt_proposals")
    pair = [current.start_row["smiles"], *found["smiles"].head(1)]
    for svg, caption in zip(drawings.aligned_drawings(pair), ["start", "best so far"], strict=False):
        pictures.image(svg, caption=caption)
    if running and not current.running:
        st.rerun(scope="app")  # the search just ended: draw the results below


st.subheader(f"Search from {job.start_row['smiles']} · {job.objective.spec} · {job.model_label}")
st.fragment(progress, run_every=1.0 if running else None)()
if running or job.status == "failed":
    st.stop()

found = job.found()
st.subheader(f"{len(found):,} molecule(s) keep every constraint")
if found.empty:
    closest = job.history[-1]["closest"] if job.history else 0.0
    st.warning(f"No decoded molecule kept every constraint. The closest valid one reached similarity {closest:.2f}: "
               "try a lower similarity threshold, a larger budget, or more Adam steps for the start code.")
else:
    improved = int((found["objective"] > job.start_row["objective"]).sum())
    st.caption(f"Best objective first; {improved:,} score higher than the start. Select rows (left edge) to add "
               "them to the basket.")
    shown = found.head(drawings.GRID_PAGE).round(3)
    rows = components.molecule_table(shown, key="opt_found")
    components.add_to_basket_button(shown, rows, "optimisation", job.model_label, key="opt_basket")
    components.download_buttons(found, "optimised", key="opt_download")

methods = latent.available_methods(job.loaded.config.latent_dim)
if methods and len(job.proposals):
    st.subheader("The search on the latent map")
    method = "pca" if "pca" in methods else methods[0]
    with st.spinner("Encoding training molecules and fitting the projection (once per model)..."):
        view = latent_map.latent_map(job.loaded, MAP_MOLECULES, method, False, False)
        figure = optimization.add_search_path(components.latent_map_figure(view, "dataset"), view.projection, job)
    st.plotly_chart(figure, key="opt_map")
    st.caption(f"{MAP_MOLECULES:,} training molecules over the prior, as on the Latent map page "
               f"({latent.METHOD_LABELS[method]}); over them every code the search decoded, coloured by when, and "
               "the track of the batch means from the start code (red star). The search runs in the full "
               f"{job.loaded.config.latent_dim}-D space: points close here may be far apart there.")
