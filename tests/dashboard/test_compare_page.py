"""AppTest of the Compare page: the AAE/VAE pair preselected, runs aligned by fraction of training, a metrics table
without "None", with whole run names and rounded numbers, computed with a progress bar."""

from __future__ import annotations

import base64
import json
import shutil

import numpy as np
import pytest

from dashboard.services import metrics
from tests.dashboard.conftest import app, assert_clean


def chart(at, key: str) -> dict:
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if key in c.proto.id)


def values(array) -> np.ndarray:
    """A Plotly array from a figure's JSON: a list, or typed binary data."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array, dtype=float)


@pytest.fixture
def shipped_pair(checkpoint_dir, tmp_path, monkeypatch):
    """A checkpoints folder with an AAE and a "VAE" of the same data and budget (tiny AAEs under the shipped names)
    and another model listed before them."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in ("aaa_first", "aae_small_moses", "vae_small_moses"):
        shutil.copy(checkpoint_dir / "tiny.safetensors", folder / f"{name}.safetensors")
    monkeypatch.setenv("AAE_LAB_CHECKPOINTS", str(folder))


def test_the_aae_and_vae_of_the_same_budget_are_preselected(shipped_pair):
    at = app("compare")
    assert_clean(at)
    assert at.multiselect(key="compare_runs").value == ["shipped:aae_small_moses.safetensors",
                                                        "shipped:vae_small_moses.safetensors"]


def test_runs_align_by_fraction_of_training():
    at = app("compare")
    at.radio(key="compare_x").set_value("fraction").run()
    assert_clean(at)
    figure = chart(at, "compare_losses")
    assert figure["layout"]["xaxis"]["title"]["text"].startswith("fraction of training")
    xs = np.concatenate([values(trace["x"]) for trace in figure["data"] if "x" in trace])
    assert xs.size and xs.max() == 1.0 and xs.min() > 0


def test_computed_metrics_show_progress_and_a_tidy_table(monkeypatch, tmp_path):
    monkeypatch.setenv("AAE_LAB_CACHE", str(tmp_path / "cache"))
    for name, value in {"METRICS_SAMPLES": 100, "METRICS_REFERENCE": 200, "LATENT_HELD_OUT": 60,
                        "LATENT_POOL": 100, "_REFERENCE": None}.items():
        monkeypatch.setattr(metrics, name, value)
    monkeypatch.setattr(metrics, "_RESULTS", metrics.OrderedDict())
    at = app("compare")
    at.toggle(key="compare_latent").set_value(True)
    at.button(key="compare_metrics").click().run()
    assert_clean(at)
    assert at.get("progress")[0].proto.text.startswith("2 run(s) scored in")
    table = at.dataframe[0]
    assert table.proto.placeholder == "—"  # missing numbers show a dash, not "None"
    frame = table.value
    assert frame.index[0] == "tiny (shipped)" and "MOSES AAE (paper)" in frame.index
    assert frame["prior AUC"].iloc[:2].notna().all() and frame["prior AUC"].iloc[2:].isna().all()
    columns = json.loads(table.proto.columns)
    assert columns["_index"]["width"] == "large" and columns["_index"]["label"] == "run"  # names are not cut
    formats = {name: column["type_config"]["format"] for name, column in columns.items() if name != "_index"}
    assert formats["FCD/Test"] == "%.2f" and formats["valid"] == "%.3f" and formats["prior AUC"] == "%.3f"
    frontier = chart(at, "compare_frontier")
    assert {"aae-lab models", "published (ZINC)"} <= {trace["name"] for trace in frontier["data"]}
