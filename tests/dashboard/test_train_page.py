"""AppTest of the Train page's presets: the classroom preset by default, warm-started from the shipped AAE when it is
there (here a tiny AAE stands in for it), its live 2-D map and the molecules the finished model samples."""

from __future__ import annotations

import shutil
import time

import pytest

from dashboard.services import training
from tests.dashboard.conftest import app, assert_clean


@pytest.fixture
def with_shipped_aae(checkpoint_dir, tmp_path, monkeypatch):
    """A checkpoints folder whose ``aae_moses.safetensors`` is the tiny AAE (latent_dim 16)."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    shutil.copy(checkpoint_dir / "tiny.safetensors", folder / "tiny.safetensors")
    shutil.copy(checkpoint_dir / "tiny.safetensors", folder / training.WARM_START)
    monkeypatch.setenv("AAE_LAB_CHECKPOINTS", str(folder))
    return folder


def values(at) -> dict:
    return {key: at.session_state[key] for key in training.PRESETS["classroom"]}


def test_the_classroom_preset_is_the_default_and_starts_from_the_shipped_aae(with_shipped_aae):
    at = app("train")
    assert_clean(at)
    assert at.radio(key="train_preset").value == "classroom"
    assert values(at) == training.PRESETS["classroom"] | training.BORROWED  # shown as the shipped model's
    assert at.radio(key="train_representation").value == "smiles" and at.selectbox(key="train_size").value == "shipped"
    assert at.radio(key="train_start_from").value == "shipped" and not at.radio(key="train_start_from").disabled
    assert at.selectbox(key="train_size").disabled and at.radio(key="train_representation").disabled
    assert "valid molecules from the first step" in " ".join(c.value for c in at.caption)


def test_without_the_shipped_aae_the_classroom_preset_trains_selfies_from_scratch():
    at = app("train")
    assert_clean(at)
    assert values(at) == training.preset_values("classroom", warm_start=False)
    assert at.radio(key="train_start_from").disabled and at.radio(key="train_start_from").options == [
        training.STARTS["scratch"]]
    assert at.radio(key="train_representation").value == "selfies"
    assert at.select_slider(key="train_latent_dim").value == 2


def test_switching_presets_sets_every_choice(with_shipped_aae):
    at = app("train")
    at.radio(key="train_preset").set_value("custom").run()
    assert_clean(at)
    assert values(at) == training.PRESETS["custom"]
    assert not at.selectbox(key="train_size").disabled
    at.radio(key="train_preset").set_value("classroom").run()
    assert values(at) == training.PRESETS["classroom"] | training.BORROWED


def test_a_classroom_run_draws_its_codes_live_then_the_molecules_it_samples(with_shipped_aae):
    at = app("train")
    at.number_input(key="train_max_molecules").set_value(200)
    at.number_input(key="train_epochs").set_value(2)
    at.button(key="train_start").click().run()
    assert_clean(at)
    job = at.session_state["training"]
    assert job.name.startswith("aae-smiles-z2-warm") and job.live_map
    deadline = time.monotonic() + 180
    while job.running and time.monotonic() < deadline:
        time.sleep(0.5)
    at.run()
    assert_clean(at)
    assert job.status == "finished", job.error
    assert any("train_live_map" in chart.proto.id for chart in at.get("plotly_chart"))
    assert "classifier AUC, codes vs prior draws" in [m.label for m in at.metric]
    labels = {m.label: m.value for m in at.metric}
    assert labels["valid"].endswith("%") and "heavy atoms (mean, valid)" in labels
    assert "What your model samples" in [h.value for h in at.subheader]
    shown = min(len(job.summary.valid_smiles), training.DRAWN_SAMPLES)
    assert len(at.get("image")[0].proto.imgs) == shown if shown else at.warning
