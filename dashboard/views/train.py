"""Train: a new molecule model of this session, trained in the background with live progress, a live map of a
2-D model's codes and, at the end, molecules it samples."""

import plotly.graph_objects as go
import streamlit as st

from aae_core.config import REPRESENTATIONS
from aae_core.exceptions import AAELabError
from aae_core.molecules import chem
from dashboard import components, inputs, state
from dashboard.jobs import LatentSnapshot
from dashboard.services import training, uploads

st.title("Train a model")
st.caption("Training runs in the background: you can visit other pages meanwhile. When it ends (or you cancel "
           "it, which keeps the last checkpoint) the model appears in the sidebar's model list on every page. "
           "It belongs to this browser session only.")
job = st.session_state[state.TRAINING]
running = job is not None and job.running
warm = training.warm_start_source() is not None


def apply_preset() -> None:
    st.session_state.update(training.preset_values(st.session_state["train_preset"], warm))


st.session_state.setdefault("train_preset", "classroom")
for key, value in training.preset_values(st.session_state["train_preset"], warm).items():
    st.session_state.setdefault(key, value)  # first visit: the preset's values (widgets then take no default)
st.radio("Preset", list(training.PRESETS), format_func=training.PRESET_LABELS.get, key="train_preset",
         on_change=apply_preset, disabled=running)
if st.session_state["train_preset"] == "classroom":
    st.caption(training.CLASSROOM_NOTE if warm else training.CLASSROOM_NOTE_SELFIES)

st.subheader("1. Data")
dataset = st.radio("Dataset", list(training.DATASETS), key="train_dataset", disabled=running)
data, column = training.DATASETS[dataset], ""
if data == "upload":
    upload = st.file_uploader("Molecule file: .smi, .txt, .csv, .tsv, .sdf or .csv.gz (at most "
                              f"{inputs.MOLECULE_MAX_BYTES // 2**20} MiB; the first {inputs.MAX_ROWS:,} rows "
                              "are read)", type=list(inputs.MOLECULE_TYPES), key="train_upload", disabled=running,
                              max_upload_size=inputs.MOLECULE_MAX_BYTES // 2**20)
    column = st.text_input("SMILES column (CSV/TSV; leave empty to guess)", key="train_column", disabled=running,
                           max_chars=inputs.MAX_TEXT_CHARS)
    data = None
    if upload is None:
        st.info("Upload a file of molecules to train on.")
    else:
        try:
            data, report, kept = uploads.read_upload(upload.name, upload.getvalue(), column, str(state.session_dir()))
            components.load_report(report)
        except AAELabError as err:
            st.error(f"{upload.name[:100]} cannot be used: {err}")
max_molecules = st.number_input("Use the first N valid molecules", 100, inputs.MAX_ROWS, step=500,
                                key="train_max_molecules", disabled=running)

st.subheader("2. Model")
starts = list(training.STARTS) if warm else ["scratch"]
start_from = st.radio("Start from", starts, format_func=training.STARTS.get, key="train_start_from",
                      disabled=running or not warm,
                      help="The shipped AAE's decoder already writes valid SMILES: a new code layer of latent_dim "
                           "dimensions feeds it, and the encoder learns to place molecules in that code."
                           if warm else f"Starting from a shipped model needs {training.WARM_START} in the "
                                        "checkpoints folder.")
borrowed = start_from == "shipped"
if borrowed:
    st.session_state.update(training.BORROWED)  # shown as they will be, disabled
cols = st.columns(4)
family = cols[0].selectbox("Model family", training.molecule_families(), format_func=str.upper, key="train_family",
                           disabled=running or borrowed)
representation = cols[1].radio("Representation", REPRESENTATIONS, format_func=str.upper, key="train_representation",
                               disabled=running or borrowed, help="SELFIES strings always decode into valid molecules.")
size = cols[2].selectbox("Network size", list(training.MODEL_SIZES), key="train_size", disabled=running or borrowed,
                         help="tiny trains in seconds; shipped is the size of the shipped MOSES model.")
latent_dim = cols[3].select_slider("latent_dim", [2, 4, 8, 16, 32, 64], key="train_latent_dim", disabled=running,
                                   help="With 2, the codes are drawn as they are while the model trains, and the "
                                        "latent map shows the raw codes.")
prior = "gaussian"
if family == "aae" and not borrowed:
    prior = st.radio("Prior p(z)", list(training.PRIORS), horizontal=True, key="train_prior", disabled=running,
                     help="The adversarial game only needs samples of the prior, so any shape works.")
if borrowed:
    st.caption("Starting from the shipped AAE: the family, representation, network size and prior (Gaussian) are "
               "the shipped model's.")

st.subheader("3. Budget")
cols = st.columns(2)
epochs = cols[0].number_input("Epochs", 1, 100, key="train_epochs", disabled=running)
budget = cols[1].slider("Time budget (seconds)", 10, 1800, step=10, key="train_budget", disabled=running,
                        help="Training stops cleanly, with a checkpoint, when either limit is reached.")

if not running and st.button("Start training", type="primary", disabled=data is None, icon=":material/play_arrow:",
                             key="train_start"):
    try:
        st.session_state[state.TRAINING] = training.start_training(
            data, column, int(max_molecules), family, representation, size, int(latent_dim), prior, int(epochs),
            float(budget), start_from)
    except AAELabError as err:
        st.error(f"Cannot start: {err}")
        st.stop()
    st.rerun()

if job is None:
    st.stop()


def live_map(snapshot: LatentSnapshot) -> go.Figure:
    """The raw 2-D codes of the run's first training molecules over draws of its prior, axes fixed while they
    fit, so that the class sees the codes move."""
    reach = max(4.0, float(abs(snapshot.codes).max()) + 0.5, float(abs(snapshot.prior).max()) + 0.5)
    fig = go.Figure()
    fig.add_scattergl(x=snapshot.prior[:, 0], y=snapshot.prior[:, 1], mode="markers", name=components.KIND_LABELS[
        "prior"], marker={"color": components.COLORS["prior"], "size": 5, "opacity": 0.6}, hoverinfo="skip")
    fig.add_scattergl(x=snapshot.codes[:, 0], y=snapshot.codes[:, 1], mode="markers", hovertext=snapshot.smiles,
                      name=components.KIND_LABELS["training"], hovertemplate="%{hovertext}<extra></extra>",
                      marker={"color": components.COLORS["training"], "size": 6, "opacity": 0.8})
    fig.update_layout(height=460, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      title=f"step {snapshot.step:,}: raw codes z (no projection)",
                      legend={"orientation": "h", "y": -0.15, "x": 0},
                      xaxis={"title": "z₁", "range": [-reach, reach]},
                      yaxis={"title": "z₂", "range": [-reach, reach], "scaleanchor": "x"})
    return fig


def progress() -> None:
    """The session's training run: progress, data report, live map, live losses and, at the end, its samples;
    polled every second while it runs."""
    current = st.session_state[state.TRAINING]
    step = current.steps[-1]["step"] if current.steps else 0
    st.progress(current.progress, text=f"{current.name}: {current.status} · step {step:,} · "
                                       f"{current.elapsed_s:.0f} s")
    if current.running and st.button("Cancel (keeps the last checkpoint)", key="train_cancel", icon=":material/stop:"):
        current.cancel()
    if current.error:
        st.error(f"Training failed: {current.error}")
    elif current.collected:
        st.success(f"{current.name} is in the model list (sidebar) of every page.")
    if current.report:
        components.load_report(current.report)
    if current.live_map:
        map_column, side = st.columns([3, 2])
        if current.snapshot is not None:
            map_column.plotly_chart(live_map(current.snapshot), key="train_live_map")
            side.metric("classifier AUC, codes vs prior draws", f"{current.snapshot.auc:.2f}",
                        help="Cross-validated ROC AUC of classifiers told to separate the codes from prior draws "
                             "(Lopez-Paz & Oquab 2017): 1 when the codes sit apart, 0.5 when they fill the prior.")
            side.caption("Each blue point is a training molecule where the encoder puts it now; orange points are "
                         "draws of the prior p(z), the codes the decoder will be given when sampling. The "
                         "discriminator pushes the blue cloud to cover the orange one. Refreshed every few seconds.")
        elif current.map_error:
            map_column.warning(f"The live map stopped: {current.map_error}")
        else:
            map_column.info("The map of the codes appears after the first checkpoint (5 steps).")
    if current.steps:
        table = training.loss_table({current.name: current.history}, weight=0.6)
        st.plotly_chart(components.loss_figure(table, "step", log_y=False), key="train_losses")
    if current.epochs:
        st.dataframe(training.epochs_table(current.epochs), hide_index=True)
    if current.summary is not None:
        samples(current.summary)
    if running and not current.running:
        st.rerun(scope="app")  # the run just ended: refresh the whole app so that the model list shows it


def samples(summary) -> None:
    """What the finished model makes: validity, uniqueness and size of its prior samples, and the first drawn."""
    st.subheader("What your model samples")
    cols = st.columns(3)
    cols[0].metric("valid", f"{summary.validity:.0%}", help=f"of {summary.n:,} prior samples (seed 0) RDKit parses")
    cols[1].metric("unique (of valid)", f"{summary.uniqueness:.0%}")
    cols[2].metric("heavy atoms (mean, valid)", f"{summary.heavy_atoms:.1f}",
                   help="MOSES molecules have 22 on average; a model that only says 'C' has 1.")
    shown = summary.valid_smiles[:training.DRAWN_SAMPLES]
    if shown:
        st.image([chem.mol_to_svg(chem.mol_from_smiles(s), (220, 160)) for s in shown], width=220,
                 caption=[s if len(s) <= 40 else s[:39] + "…" for s in shown])
    else:
        st.warning("None of its samples is a valid molecule yet: train longer, start from the shipped AAE, or "
                   "use SELFIES.")


st.subheader(f"Run {job.name}")
st.fragment(progress, run_every=1.0 if running else None)()
