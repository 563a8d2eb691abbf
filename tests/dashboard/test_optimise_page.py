"""AppTest of the Optimise page: it renders, refuses bad input with a message, runs a real search with the shipped
MOSES AAE in a worker thread and shows its molecules (which keep every constraint), their plots and exports; and
the page logic (Pareto front, batch means, objectives) on its own."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aae_core.molecules import chem
from aae_core.molecules.latent_quality import fingerprints, tanimoto
from aae_core.molecules.optimization import SearchConfig
from dashboard.services import optimization
from tests.dashboard.conftest import app, assert_clean

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"
START = "Clc1ccccc1-c1nc(-c2ccncc2)no1"  # a MOSES test molecule whose neighbourhood the shipped AAE decodes well
KNOWN = "CC1Oc2ccc(Cl)cc2N(CC(O)CO)C1=O"  # the first molecule of the MOSES train cut: in every tiny vocabulary


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def wait(job, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while job.running and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not job.running, "the search did not end in time"


def test_page_renders_with_the_start_drawn():
    at = app("optimise")
    assert_clean(at)
    assert at.title[0].value == "Optimise a lead"
    assert at.button(key="opt_start").label == "Optimise"
    assert at.get("image"), "the start molecule is drawn"
    assert optimization.JOB not in at.session_state, "nothing runs before the button is pressed"


@pytest.mark.parametrize(("key", "value", "message"), [
    ("opt_smiles", "C1CC(", "Cannot optimise: start SMILES 'C1CC(' is not a valid molecule"),
    ("opt_smiles", "C" * 20_000, "the start SMILES has 20,000 characters, over the limit of 1,000"),
    ("opt_smarts", "[C", "'[C' is not a valid SMARTS pattern"),
    ("opt_smarts", "Br", "the start molecule does not contain the must-keep SMARTS 'Br'"),
    ("opt_smarts", "C" * 20_000, "the SMARTS pattern has 20,000 characters, over the limit of 1,000"),
])
def test_bad_input_is_refused_with_a_message(key, value, message):
    at = app("optimise")
    at.text_input(key=key).input(value).run()
    assert message in texts(at.error) and not at.exception and len(texts(at.error)) < 300
    assert not [b for b in at.button if b.key == "opt_start"], "no search can start from bad input"


def test_the_start_can_come_from_the_basket():
    at = app("optimise")
    at.radio(key="opt_source").set_value("pick from the basket").run()
    assert "The basket is empty" in texts(at.info) and not at.exception
    basket = pd.DataFrame({"smiles": [KNOWN, "CCO"], "source": "test", "model": "tiny"})
    at = app("optimise", basket=basket, opt_source="pick from the basket")
    assert_clean(at)
    assert list(at.selectbox(key="opt_basket").options) == [KNOWN, "CCO"]


def test_a_window_objective_shows_its_window():
    at = app("optimise")
    at.selectbox(key="opt_objective").set_value("MW in a window (Da)").run()
    assert_clean(at)
    assert at.slider(key="opt_window_mw").value == (300.0, 400.0)


def test_a_real_search_shows_molecules_that_keep_the_constraints(monkeypatch):
    monkeypatch.setenv("AAE_LAB_CHECKPOINTS", str(CHECKPOINTS))
    at = app("optimise", opt_smiles=START, opt_budget=64, opt_refine=0, opt_objective="QED (drug-likeness, 0-1)",
             opt_smarts="c1ccncc1", opt_lipinski=0)
    assert_clean(at)
    assert at.sidebar.selectbox[0].value == "shipped:aae_moses.safetensors"
    at.button(key="opt_start").click().run()
    assert_clean(at)
    job = at.session_state[optimization.JOB]
    assert job.config.anchors == SearchConfig.anchors  # anchored on the start's SMILES unless the toggle is off
    wait(job)
    at.run()
    assert_clean(at)
    assert job.status == "finished" and job.evaluations == 64, job.error
    found = job.found()
    assert len(found) and (found["similarity"] >= 0.4).all()
    similarity = tanimoto(fingerprints([START])[0], fingerprints(found["smiles"].tolist()))
    assert similarity == pytest.approx(found["similarity"].to_numpy())
    pyridine = chem.substructure_query("c1ccncc1")
    assert all(chem.mol_from_smiles(s).HasSubstructMatch(pyridine) for s in found["smiles"])
    # the live table, built from the proposals as they came, is the finished search's own
    pd.testing.assert_frame_equal(job.found_so_far(), found, check_dtype=False)
    table = at.dataframe(key="opt_found").value
    assert table["smiles"].tolist() == found["smiles"].head(len(table)).tolist()
    assert [b.label for b in at.get("download_button")] == ["Download CSV", "Download SDF"]
    charts = {c.key: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    names = [trace.get("name", "") for trace in charts["opt_proposals"]["data"]]
    assert "Pareto front" in names and "start molecule" in names
    names = [trace.get("name", "") for trace in charts["opt_map"]["data"]]
    assert {"search track (batch means)", "start code", "best molecule found"} <= set(names)
    at.session_state["opt_found"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    at.button(key="opt_basket").click().run()
    assert at.session_state["basket"]["smiles"].tolist() == [found["smiles"].iloc[0]]


def test_a_search_can_be_cancelled_and_the_server_limit_holds(monkeypatch):
    at = app("optimise", opt_smiles=KNOWN, opt_budget=2000, opt_refine=0, opt_min_similarity=0.0)
    monkeypatch.setattr(optimization, "_running", [])
    monkeypatch.setattr(optimization, "MAX_RUNNING", 1)
    at.button(key="opt_start").click().run()
    assert_clean(at)
    job = at.session_state[optimization.JOB]
    assert job.running and at.button(key="opt_cancel")
    other = app("optimise", opt_smiles=KNOWN)
    other.button(key="opt_start").click().run()
    assert "Cannot start: the server is already running 1 searches" in texts(other.error)
    job.cancel()
    wait(job, 60)
    at.run()
    assert_clean(at)
    assert job.status == "cancelled" and job.evaluations < 2000 and job.result is None


def test_a_molecule_the_model_cannot_read_fails_with_a_message():
    at = app("optimise", opt_smiles="C[Se]C", opt_refine=0, opt_budget=50)
    at.button(key="opt_start").click().run()
    job = at.session_state[optimization.JOB]
    wait(job, 60)
    at.run()
    assert job.status == "failed" and not at.exception
    assert "The search failed: the model cannot encode the start molecule" in texts(at.error)
    assert not at.get("plotly_chart") or len(at.get("plotly_chart")) == 1  # the empty proposals plot, no map
    assert "keep every constraint" not in texts(at.subheader)


def test_pareto_front():
    frame = pd.DataFrame({"smiles": list("abcdefg"), "similarity": [0.9, 0.8, 0.8, 0.5, 0.4, 0.3, np.nan],
                          "objective": [0.1, 0.5, 0.2, 0.5, 0.9, 0.9, 5.0]})
    front = optimization.pareto_front(frame)
    assert front["smiles"].tolist() == ["a", "b", "e"]  # c, d and f are beaten; g is invalid


def test_batch_centres_and_objectives():
    path = np.arange(10, dtype=np.float32).reshape(5, 2)
    assert optimization.batch_centres(path, 2).tolist() == [[1, 2], [5, 6], [8, 9]]
    assert optimization.objective_spec("logP in a window", (1.0, 2.5)).spec == "logp[1.0,2.5]"
    assert optimization.objective_spec("QED (drug-likeness, 0-1)").needs == {"QED"}
    with pytest.raises(ValueError, match="unknown objective"):
        optimization.objective_spec("potency")
