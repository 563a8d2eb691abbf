"""Train: a new molecule model of this session, trained in the background with live progress."""

import streamlit as st

from aae_core.config import REPRESENTATIONS
from aae_core.exceptions import AAELabError
from dashboard import components, inputs, state
from dashboard.services import training, uploads

st.title("Train a model")
st.caption("Training runs in the background: you can visit other pages meanwhile. When it ends (or you cancel "
           "it, which keeps the last checkpoint) the model appears in the sidebar's model list on every page. "
           "It belongs to this browser session only.")
job = st.session_state[state.TRAINING]
running = job is not None and job.running

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
max_molecules = st.number_input("Use the first N valid molecules", 100, inputs.MAX_ROWS, 2_000, step=500,
                                key="train_max_molecules", disabled=running)

st.subheader("2. Model")
cols = st.columns(4)
family = cols[0].selectbox("Model family", training.molecule_families(), format_func=str.upper, key="train_family",
                           disabled=running)
representation = cols[1].radio("Representation", REPRESENTATIONS, format_func=str.upper, key="train_representation",
                               disabled=running, help="SELFIES strings always decode into valid molecules.")
size = cols[2].selectbox("Network size", list(training.MODEL_SIZES), key="train_size", disabled=running,
                         help="tiny trains in seconds; shipped is the size of the shipped MOSES model.")
latent_dim = cols[3].select_slider("latent_dim", [2, 4, 8, 16, 32, 64], 16, key="train_latent_dim",
                                   disabled=running, help="With 2, the latent map shows the raw codes.")
prior = "gaussian"
if family == "aae":
    prior = st.radio("Prior p(z)", list(training.PRIORS), horizontal=True, key="train_prior", disabled=running,
                     help="The adversarial game only needs samples of the prior, so any shape works.")

st.subheader("3. Budget")
cols = st.columns(2)
epochs = cols[0].number_input("Epochs", 1, 100, 2, key="train_epochs", disabled=running)
budget = cols[1].slider("Time budget (seconds)", 10, 1800, 120, step=10, key="train_budget", disabled=running,
                        help="Training stops cleanly, with a checkpoint, when either limit is reached.")

if not running and st.button("Start training", type="primary", disabled=data is None, icon=":material/play_arrow:",
                             key="train_start"):
    try:
        st.session_state[state.TRAINING] = training.start_training(
            data, column, int(max_molecules), family, representation, size, int(latent_dim), prior, int(epochs),
            float(budget))
    except AAELabError as err:
        st.error(f"Cannot start: {err}")
        st.stop()
    st.rerun()

if job is None:
    st.stop()


def progress() -> None:
    """The session's training run: progress, data report, live losses; polled every second while it runs."""
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
    if current.steps:
        table = training.loss_table({current.name: current.history}, weight=0.6)
        st.plotly_chart(components.loss_figure(table, "step", log_y=False), key="train_losses")
    if current.epochs:
        st.dataframe(current.epochs, hide_index=True)
    if running and not current.running:
        st.rerun(scope="app")  # the run just ended: refresh the whole app so that the model list shows it


st.subheader(f"Run {job.name}")
st.fragment(progress, run_every=1.0 if running else None)()
