"""Fixtures of the dashboard tests: a tiny AAE trained once per session stands in for the shipped models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from aae_core.config import ModelConfig, TrainConfig
from dashboard import jobs

torch.set_num_threads(1)

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def tiny_configs(max_molecules: int = 600, epochs: int = 2, **model) -> tuple[ModelConfig, TrainConfig]:
    """The configuration that trains in seconds (600 MOSES molecules, two epochs); ``model`` overrides."""
    model_cfg = ModelConfig(**{"hidden_dim": 64, "decoder_hidden_dim": 128, "latent_dim": 16,
                               "discriminator_dims": [64], **model})
    return model_cfg, TrainConfig(max_molecules=max_molecules, batch_size=64, epochs=epochs, monitor_samples=20,
                                  log_every=2)


@pytest.fixture(scope="session")
def checkpoint_dir(tmp_path_factory) -> Path:
    """A folder standing in for ``checkpoints/``: tiny AAEs with latent_dim 16 (Gaussian prior), 2 (mixture
    prior: a raw 2-D map) and 1 (no 2-D view)."""
    from aae_core.molecules.pipeline import train_molecules

    folder = tmp_path_factory.mktemp("checkpoints")
    mixture = {"name": "mixture", "k": 4, "radius": 2.0, "sigma": 0.5}
    models = {"tiny": {}, "tiny2d": {"latent_dim": 2, "prior": mixture, "max_molecules": 200, "epochs": 1},
              "tiny1d": {"latent_dim": 1, "max_molecules": 200, "epochs": 1}}
    for name, overrides in models.items():
        train_molecules(*tiny_configs(**overrides), folder / f"{name}.safetensors", card={"name": name})
    return folder


@pytest.fixture(autouse=True)
def dashboard_env(monkeypatch, checkpoint_dir):
    """Point the app at the tiny models."""
    monkeypatch.setenv("AAE_LAB_CHECKPOINTS", str(checkpoint_dir))


@pytest.fixture
def fresh_sessions(monkeypatch):
    """A new server-wide book of sessions for the app (no reaper thread); its folders go afterwards."""
    sessions = jobs.Sessions(reap_every_s=None)
    monkeypatch.setattr(jobs, "SESSIONS", sessions)
    yield sessions
    sessions.close()


def app(page: str | None = None, **session_state) -> AppTest:
    """The app, run once (the Home page), then switched to ``views/<page>.py`` and run; the map uses 2,000
    molecules unless ``session_state`` says otherwise."""
    at = AppTest.from_file(str(APP), default_timeout=180)
    for key, value in {"map_points": 2_000, **session_state}.items():
        at.session_state[key] = value
    at.run()
    if page is not None:
        at.switch_page(f"views/{page}.py").run()
    return at


def assert_clean(at: AppTest) -> None:
    """No exception, no error message, and not the app's last-resort "unexpected problem" message."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
