"""AppTest of every page of the molecule dashboard: each renders cleanly and its main interactions work; bad
input gives an st.error / st.warning and never a traceback."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from dashboard.services import drawings
from tests.dashboard.conftest import app, assert_clean
from tests.dashboard.test_jobs import FakeJob

PAGES = ["home", "latent_map", "sample", "interpolate", "basket", "train", "compare", "divergences"]
KNOWN = "CC1Oc2ccc(Cl)cc2N(CC(O)CO)C1=O"  # the first molecule of the MOSES train cut: in every tiny vocabulary


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def chart(at, index: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders(page):
    at = app(page if page != "home" else None)
    assert_clean(at)
    assert at.title, f"{page} has no title"
    assert at.sidebar.selectbox[0].value == "shipped:tiny.safetensors"


def test_home_lists_models_with_cards_and_a_tour():
    at = app()
    assert "tiny (shipped)" in texts(at.markdown)
    assert {m.label for m in at.metric} >= {"training molecules", "training time"}
    assert len(at.get("page_link")) == 8  # six molecule steps, two digit steps
    assert "No shipped digit model" in texts(at.info)


def test_sample_shows_stats_and_grid_then_filters():
    at = app("sample")
    assert "press **Sample**" in texts(at.info)
    at.number_input(key="sample_n").set_value(200)
    at.button[0].click().run()
    assert_clean(at)
    assert [m.label for m in at.metric] == ["Validity", "Uniqueness", "Novelty", "Batch"]
    at.checkbox(key="filter_valid").uncheck().run()
    grid = at.dataframe[0].value
    assert list(grid.columns[:2]) == ["molecule", "smiles"] and len(grid) == drawings.GRID_PAGE  # first page of 200
    assert grid["molecule"].str.startswith("data:image/svg+xml;base64,").all()
    assert len(at.get("download_button")) == 2
    at.text_input(key="filter_smarts").input("C").run()
    assert_clean(at)
    assert at.dataframe[0].value["smiles"].str.contains("C").all()
    at.text_input(key="filter_smarts").input("[C").run()
    assert "not a valid SMARTS" in texts(at.error) and not at.exception  # bad SMARTS: error, grid still shown
    assert at.dataframe


def test_selected_rows_go_to_the_basket_and_the_basket_page():
    at = app("sample")
    at.number_input(key="sample_n").set_value(200)
    at.button[0].click().run()
    at.session_state["sample_grid_1"] = {"selection": {"rows": [0, 1], "columns": []}}
    at.run()
    assert at.button(key="sample_basket").label == "Add 2 selected to the basket"
    at.button(key="sample_basket").click().run()
    basket = at.session_state["basket"]
    assert len(basket) == 2 and basket["source"].eq("sample").all()
    at.switch_page("views/basket.py").run()
    assert_clean(at)
    assert len(at.dataframe[0].value) == len(basket)
    assert f"basket: {len(basket)}" in texts(at.sidebar.caption)


def test_basket_page_removes_and_exports():
    basket = pd.DataFrame({"smiles": ["CCO", "c1ccccc1O"], "source": "test", "model": "tiny"})
    at = app("basket", basket=basket)
    assert_clean(at)
    assert [b.label for b in at.get("download_button")] == ["Download CSV", "Download SDF"]
    at.session_state["basket_grid"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    at.button(key="basket_remove").click().run()
    assert at.session_state["basket"]["smiles"].tolist() == ["c1ccccc1O"]


def test_latent_map_encodes_a_molecule_and_marks_its_neighbours():
    at = app("latent_map")
    assert_clean(at)
    names = [trace.get("name") for trace in chart(at)["data"]]
    assert "training molecules, encoded" in names and "prior σ rings (1σ, 2σ, 3σ)" in names
    at.text_input(key="map_smiles").input(KNOWN).run()
    assert_clean(at)
    names = [trace.get("name") for trace in chart(at)["data"]]
    assert "your molecule" in names and "nearest neighbours (in latent space)" in names
    neighbours = at.dataframe[0].value
    assert len(neighbours) == 5 and neighbours["distance"].is_monotonic_increasing


def test_latent_map_rejects_bad_smiles_and_keeps_working():
    at = app("latent_map")
    at.text_input(key="map_smiles").input("C1CC(").run()
    assert "Cannot place this molecule" in texts(at.error)
    assert not at.exception and at.get("plotly_chart"), "the map must still be drawn"


def test_latent_map_of_a_2d_mixture_model_is_raw_coloured_by_property_with_layers():
    at = app("latent_map")
    at.sidebar.selectbox[0].set_value("shipped:tiny2d.safetensors").run()
    assert at.radio(key="map_method").options == ["raw latent axes"]
    at.selectbox(key="map_colour").set_value("MW")
    at.checkbox(key="map_prior").check()
    at.checkbox(key="map_generated").check().run()
    assert_clean(at)
    spec = chart(at)
    names = [trace.get("name") for trace in spec["data"]]
    assert {"prior samples z ~ p(z)", "generated molecules, encoded back"} <= set(names)
    rings = [trace for trace in spec["data"] if trace.get("legendgroup") == "rings"]
    assert len(rings) == 4 * 3 and sum(trace.get("showlegend", True) for trace in rings) == 1
    assert spec["layout"]["xaxis"]["title"]["text"] == "z₁"


def test_latent_map_warns_for_a_model_without_2d_view():
    at = app("latent_map")
    at.sidebar.selectbox[0].set_value("shipped:tiny1d.safetensors").run()
    assert "no 2-D view" in texts(at.warning) and not at.exception


def test_interpolate_draws_every_step_and_rejects_bad_smiles():
    at = app("interpolate")
    assert_clean(at)
    at.slider(key="interp_steps").set_value(5)
    at.radio(key="interp_method").set_value("spherical").run()
    assert_clean(at)
    images = [i for i in at.get("image") if i.captions[0].startswith("t = ")]  # the path, not the endpoints
    assert len(images) == 5 and images[0].captions[0].startswith("t = 0.00")
    assert len(at.dataframe[0].value) == 5
    at.text_input(key="interp_end").input("not a molecule").run()
    assert "Cannot interpolate" in texts(at.error) and not at.exception


def test_interpolate_from_the_basket_needs_two_molecules():
    at = app("interpolate", basket=pd.DataFrame({"smiles": ["CCO"], "source": "t", "model": "t"}))
    at.radio(key="interp_source").set_value("pick from the basket").run()
    assert "fewer than two" in texts(at.info) and not at.exception


def test_divergences_show_infinite_kl_for_disjoint_uniforms():
    at = app("divergences")
    at.radio(key="div_shape").set_value("uniform")
    at.slider(key="div_shift").set_value(2.0).run()
    assert_clean(at)
    values = {m.label: m.value for m in at.metric}
    assert values["KL"] == "∞" and values["JS"] == "0.693 nats"
    assert float(values["W1"].split()[0]) == pytest.approx(2.0, abs=0.01)


def test_compare_draws_curves_and_the_paper_rows():
    at = app("compare")
    assert_clean(at)
    assert at.get("plotly_chart"), "loss curves missing"
    at.slider(key="compare_smoothing").set_value(0.9)
    at.radio(key="compare_x").set_value("time_s")
    at.toggle(key="compare_log_y").set_value(True).run()
    assert_clean(at)
    assert chart(at)["layout"]["yaxis"]["type"] == "log"
    index = at.dataframe[0].value.index.tolist()
    assert "MOSES AAE (paper)" in index and "MOSES VAE (paper)" in index


def test_train_upload_is_validated_with_a_report(tmp_path):
    at = app("train")
    at.radio(key="train_dataset").set_value("Upload a molecule file").run()
    assert "Upload a file" in texts(at.info)
    uploader = at.get("file_uploader")[0]
    uploader.upload("mols.csv", b"name,structure\na,CCO\nb,not_a_smiles\nc,CCO\nd,c1ccccc1\n", "text/csv").run()
    assert "no SMILES column" in texts(at.error) and not at.exception
    assert "name the column in the box **SMILES column**" in texts(at.error)
    assert "smiles_column=" not in texts(at.error)  # the page has a box for it, unlike the Python API
    at.text_input(key="train_column").input("structure").run()
    assert_clean(at)
    counts = {m.label: m.value for m in at.metric}
    assert counts == {"rows read": "4", "molecules kept": "2", "rows rejected": "2"}


def test_train_rejects_an_empty_upload():
    at = app("train")
    at.radio(key="train_dataset").set_value("Upload a molecule file").run()
    at.get("file_uploader")[0].upload("empty.smi", b"").run()
    assert "is empty" in texts(at.error) and not at.exception
    assert at.button(key="train_start").disabled


def test_training_a_tiny_model_adds_it_to_every_page():
    at = app("train")
    at.number_input(key="train_max_molecules").set_value(300)
    at.selectbox(key="train_size").set_value("tiny")
    at.select_slider(key="train_latent_dim").set_value(2)
    at.number_input(key="train_epochs").set_value(1)
    at.button(key="train_start").click().run()
    assert_clean(at)
    job = at.session_state["training"]
    deadline = time.monotonic() + 120
    while job.running and time.monotonic() < deadline:
        time.sleep(0.5)
    at.run()
    assert_clean(at)
    assert job.status == "finished" and job.steps, job.error
    assert any("(this session)" in label for label in at.sidebar.selectbox[0].options)
    assert at.sidebar.selectbox[0].value.startswith("session:")  # the new model is selected
    assert "is in the model list" in texts(at.success)
    at.switch_page("views/latent_map.py").run()
    assert_clean(at)
    assert at.radio(key="map_method").options == ["raw latent axes"]
    at.switch_page("views/compare.py").run()
    assert_clean(at)
    assert any(key.startswith("session:") for key in at.multiselect(key="compare_runs").value)


def test_a_broken_checkpoint_is_reported_not_raised(tmp_path, monkeypatch):
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("AAE_LAB_CHECKPOINTS", str(tmp_path))
    at = app()
    assert "A checkpoint was skipped" in texts(at.warning) and not at.exception
    assert "No molecule model found" in texts(at.sidebar.warning)
    at.switch_page("views/sample.py").run()
    assert "No molecule model yet" in texts(at.info) and not at.exception


def test_over_long_smiles_and_smarts_are_refused_with_their_limit():
    """A 20,000-atom SMILES once overflowed RDKit's stack and took the server down: now every box refuses it
    before any parser sees it, with a short message that names the limit."""
    long = "C" * 20_000
    at = app("interpolate")
    at.text_input(key="interp_start").input(long).run()
    assert "Cannot interpolate: the start SMILES has 20,000 characters, over the limit of 1,000" in texts(at.error)
    assert not at.exception and len(texts(at.error)) < 300
    at = app("latent_map")
    at.text_input(key="map_smiles").input(long).run()
    assert "your SMILES has 20,000 characters, over the limit of 1,000" in texts(at.error)
    assert not at.exception and at.get("plotly_chart") and len(texts(at.error)) < 300
    at = app("sample")
    at.number_input(key="sample_n").set_value(50)
    at.button[0].click().run()
    at.text_input(key="filter_smarts").input(long).run()
    assert "the SMARTS pattern has 20,000 characters, over the limit of 1,000" in texts(at.error)
    assert not at.exception and at.dataframe


@pytest.mark.parametrize(("name", "data", "message"), [
    ("book.csv", b"PK\x03\x04\x14\x00\x06\x00\x08\x00" * 100, "book.csv is not a text file"),  # a spreadsheet
    ("mols.smi", "CCO\ncafé\n".encode("latin-1"), "mols.smi is not a text file"),
    ("one-line.smi", b"C" * 2**20, "line 1 has 1,048,576 characters, over the limit of 10,000"),
])
def test_train_upload_refuses_files_no_parser_should_see(name, data, message):
    at = app("train")
    at.radio(key="train_dataset").set_value("Upload a molecule file").run()
    at.get("file_uploader")[0].upload(name, data).run()
    assert message in texts(at.error) and not at.exception
    assert "unexpected problem" not in texts(at.error)
    assert at.button(key="train_start").disabled


def test_training_beyond_the_server_limit_is_refused_with_a_message(fresh_sessions):
    sessions = fresh_sessions
    sessions.max_running = 1
    other = sessions.start("another session", "its tab", FakeJob("theirs"))
    at = app("train")
    at.number_input(key="train_max_molecules").set_value(100)
    at.button(key="train_start").click().run()
    assert "Cannot start: the server is already running 1 training run(s)" in texts(at.error)
    assert not at.exception and at.session_state["training"] is None
    other.finish()
    at.button(key="train_start").click().run()
    assert_clean(at)
    job = at.session_state["training"]
    assert job is not None and sessions.running() <= 1
    job.cancel()
    job.thread.join(timeout=120)
