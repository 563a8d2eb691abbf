"""AppTest of the digit pages: they render shipped or session models, train in a worker thread, and show
st.error (never a traceback) for bad input."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from aae_core.checkpoints import finish_checkpoint
from aae_core.images.data import load_images
from aae_core.images.training import MNIST_HELD_OUT, shipped_image_models, train_images
from aae_core.registry import load_model
from dashboard import jobs
from tests.dashboard.test_jobs import FakeJob
from tests.images.conftest import tiny_image_config, tiny_train_config

PAGES = Path(__file__).resolve().parents[2] / "dashboard" / "views"


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """A tiny unsupervised AAE and a tiny semi-supervised one (two epochs on 120 embedded digits)."""
    folder = tmp_path_factory.mktemp("pages")
    models = {"tiny_aae": tiny_image_config(),
              "tiny_semi": tiny_image_config(model="semi-supervised", num_labels=20, holdout=20)}
    for name, cfg in models.items():
        train_images(cfg, tiny_train_config(epochs=2), folder / f"{name}.safetensors")
    return {name: folder / f"{name}.safetensors" for name in models}


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / name), default_timeout=120)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("name", ["tiny_aae", "tiny_semi"])
def test_explore_page_draws_every_tab(tiny_models, name):
    at = page("digits_explore.py")
    at.session_state["digits_trained"] = tiny_models
    at.run()
    at.selectbox(key="digits_model").set_value(name).run()
    assert_clean(at)
    assert len(at.tabs) == 5
    assert len(at.get("plotly_chart")) == (2 if name == "tiny_semi" else 1), "latent map or class table missing"
    assert len(at.image) >= 2, "manifold / reconstructions missing"
    assert any("fill the prior: MMD²" in caption.value for caption in at.caption)
    if name == "tiny_aae":
        assert any("pick a semi-supervised or clustering model" in info.value for info in at.info)
    if name == "tiny_semi":
        at.slider(key="digits_style_rows").set_value(3).run()
        assert_clean(at)
        assert len(at.image) == 3  # manifold, style grid, reconstructions
        assert any(caption.value.startswith("Conditional accuracy ") for caption in at.caption)


@pytest.fixture(scope="module")
def models_without_data(tmp_path_factory) -> dict[str, Path]:
    """Tiny models whose training file was deleted afterwards: one on 28x28 MNIST images (the shipped held-out
    sample, copied), one on 8x8 digits saved to an .npz."""
    folder = tmp_path_factory.mktemp("no_data")
    mnist, digits = folder / "mnist.npz", folder / "digits.npz"
    shutil.copy(MNIST_HELD_OUT, mnist)
    embedded = load_images("digits", max_images=120)
    np.savez(digits, x_train=embedded.images.reshape(-1, 8, 8), y_train=embedded.labels)
    models = {"gone_28x28": tiny_image_config(data=str(mnist), split="heldout", max_images=120),
              "gone_8x8": tiny_image_config(data=str(digits))}
    for name, cfg in models.items():
        train_images(cfg, tiny_train_config(), folder / f"{name}.safetensors")
    finish_checkpoint(folder / "gone_28x28.safetensors", {"command": f"aae-lab train-images --data {mnist} --quiet"})
    mnist.unlink()
    digits.unlink()
    return {name: folder / f"{name}.safetensors" for name in models}


def test_explore_page_without_the_model_data(models_without_data):
    """A 28x28 model whose file is gone is shown with the shipped MNIST images (and says so); any other keeps
    its manifold and says why the latent map and reconstructions are missing. The card and the messages name the
    data file, not the folders of the machine that trained the model."""
    at = page("digits_explore.py")
    at.session_state["digits_trained"] = models_without_data
    at.run()
    at.selectbox(key="digits_model").set_value("gone_28x28").run()
    assert_clean(at)
    assert "shipped in assets/digits" in at.info[0].value and at.get("plotly_chart") and len(at.image) == 2
    assert at.info[0].value.startswith("mnist.npz is not on this machine")
    assert "card: `aae-lab train-images --data mnist.npz --quiet`" in at.caption[0].value
    at.selectbox(key="digits_model").set_value("gone_8x8").run()
    assert not at.exception and not at.error
    assert "cannot be read (no .npz file at digits.npz)" in at.warning[0].value
    assert not at.get("plotly_chart") and len(at.image) == 1  # the manifold
    folder = str(models_without_data["gone_8x8"].parent)
    assert not [e.value for e in (*at.caption, *at.info, *at.warning) if folder in e.value]


def test_explore_page_reports_a_bad_checkpoint(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    at = page("digits_explore.py")
    at.session_state["digits_trained"] = {"junk": junk}
    at.run()
    at.selectbox(key="digits_model").set_value("junk").run()
    assert not at.exception
    assert "Cannot use junk" in at.error[0].value


def test_home_lists_the_shipped_digit_models(tiny_models, tmp_path, monkeypatch):
    """Home reads the digit models' headers into one table; a broken file is reported, not shown as a model."""
    for path in tiny_models.values():
        shutil.copy(path, tmp_path)
    (tmp_path / "digits_junk.safetensors").write_bytes(b"not a checkpoint")
    finish_checkpoint(tmp_path / "tiny_semi.safetensors", {"metrics": {"held_out_accuracy": 0.5}, "wall_s": 1.5})
    monkeypatch.setenv("AAE_LAB_CHECKPOINTS", str(tmp_path))
    at = AppTest.from_file(str(PAGES.parent / "app.py"), default_timeout=120).run()
    assert not at.exception
    table = at.table[0].value
    assert list(table["model"]) == ["tiny_aae", "tiny_semi"]
    assert list(table["labels"]) == ["none", "20"]
    assert list(table["held-out accuracy"]) == ["–", "50.0%"]
    assert list(table["training time"]) == ["n/a", "2 s"] and list(table["data"]) == ["8x8 digits"] * 2
    assert any("digits_junk.safetensors is not a readable" in w.value for w in at.warning)
    assert len(at.get("page_link")) == 8


def submit_training(**values) -> AppTest:
    at = page("digits_training.py").run()
    for key, value in values.items():
        kind = "selectbox" if key in ("model", "prior") else "checkbox" if key == "deskew" else "number_input"
        getattr(at, kind)(key=f"digits_train_{key}").set_value(value)
    at.button[0].click().run()
    if "digits_job" not in at.session_state:  # the options were refused before training started
        return at
    at.session_state["digits_job"].thread.join(timeout=120)
    return at.run()


def test_train_page_trains_in_a_worker_thread():
    at = submit_training(model="semi-supervised", latent=2, labels=50, hidden=16, epochs=1)
    assert_clean(at)
    assert "Done: reconstruction bce 0." in at.success[0].value and "held out accuracy" in at.success[0].value
    job = at.session_state["digits_job"]
    assert job.metrics["held_out_accuracy"] > 0 and Path(job.path).is_file()
    assert Path(job.path).stem in at.session_state["digits_trained"]
    axes = json.loads(at.get("vega_lite_chart")[0].proto.spec)["layer"][0]["encoding"]
    assert (axes["x"]["title"], axes["y"]["title"]) == ("step (one batch)", "loss")


def test_train_page_clustering_with_the_bench_options():
    """Clustering from the app gets batch-normalised logits (as in the bench) and the perturbation options."""
    at = submit_training(model="clustering", clusters=4, hidden=16, epochs=1, shift=1, rotation=15.0, zoom=0.1,
                         noise=0.2, consistency=5.0, neighbours=5, deskew=True)
    assert_clean(at)
    job = at.session_state["digits_job"]
    config = load_model(job.path).config
    assert (config.logit_norm, config.input_shift, config.input_noise, config.consistency) == (True, 1, 0.2, 5.0)
    assert config.neighbours == 5 and config.deskew
    assert (config.input_rotation, config.input_zoom) == (15.0, 0.1)
    assert "held_out_cluster_accuracy" in job.metrics


def test_train_page_restarts_and_lowers_the_learning_rate():
    """Restart candidates then the chosen one run on one progress bar and one loss chart; the card says where the
    model came from."""
    at = submit_training(model="clustering", clusters=4, hidden=16, epochs=3, consistency=1.0, restarts=2,
                         restart_epochs=1, milestone=2)
    assert_clean(at)
    job = at.session_state["digits_job"]
    assert job.total_epochs == len(job.epochs) == 2 * 1 + 2
    assert [s["step"] for s in job.steps] == list(range(1, len(job.steps) + 1))
    meta = load_model(job.path).meta
    assert len(meta["card"]["restarts"]) == 2 and meta["card"]["command"].startswith("trained in the dashboard")
    assert meta["train_config"]["lr_milestones"] == [2]
    assert job.epochs[-1]["lr"] == pytest.approx(0.1 * job.epochs[0]["lr"])


def test_train_page_shows_errors_not_tracebacks():
    at = submit_training(model="label-prior", labels=15, hidden=16, epochs=1)
    assert not at.exception
    assert "multiple of the 10 classes" in at.error[0].value
    at = submit_training(model="aae", hidden=16, epochs=1, consistency=1.0)
    assert not at.exception
    assert "consistency applies to semi-supervised and clustering" in at.error[0].value
    at = submit_training(model="clustering", hidden=16, epochs=1, neighbours=5)
    assert not at.exception
    assert "also set consistency > 0" in at.error[0].value
    # the run that refuses still draws the progress below the message (a run stopped before it let a poll of the
    # previous run's progress redraw over the message: the flaky browser test)
    assert "Set the options and press Train" in at.info[0].value
    at = submit_training(model="clustering", hidden=16, epochs=2, restarts=2, restart_epochs=2)
    assert not at.exception
    assert "leaves nothing to continue" in at.error[0].value


def test_train_page_checks_uploads_and_trains_once_per_session(monkeypatch, request):
    """A broken or bombing upload is refused before NumPy reads it; a second run of the same session is refused
    (the book of sessions is the server's, shared with the molecule Train page)."""
    at = page("digits_training.py").run()
    at.get("file_uploader")[0].upload("digits.npz", b"not a zip archive")
    at.button[0].click().run()
    assert "Cannot train: digits.npz is not an .npz archive" in at.error[0].value and not at.exception
    at.get("file_uploader")[0].upload("train-images-idx3-ubyte.gz", gzip.compress(b"\x00" * (65 * 2**20)))
    at.button[0].click().run()
    assert "unpacks to more than 64 MiB, the limit" in at.error[0].value and not at.exception
    sessions = jobs.Sessions(reap_every_s=None)
    monkeypatch.setattr(jobs, "SESSIONS", sessions)
    request.addfinalizer(sessions.close)
    at = page("digits_training.py")
    at.session_state["session_key"] = "this tab"
    at.run()
    sessions.start("this tab", "", FakeJob("aae-smiles-z16-1"))
    at.button[0].click().run()
    assert "Cannot train: this session is already training aae-smiles-z16-1" in at.error[0].value
    assert "digits_job" not in at.session_state

def test_accuracy_page_baseline():
    at = page("digits_accuracy.py").run()
    assert_clean(at)
    summary = at.dataframe[0].value
    assert {"accuracy", "std", "seeds", "per_seed"} <= set(summary.columns)
    assert set(summary["method"]) == {"logistic regression", "semi-supervised AAE"}
    assert at.metric[0].value.endswith("%")
    at.number_input(key="digits_accuracy_labels").set_value(15).run()
    assert "multiple of the 10 classes" in at.error[0].value


def test_accuracy_page_refuses_a_foreign_table(tmp_path, monkeypatch):
    table = tmp_path / "semisupervised_accuracy.csv"
    table.write_text("name,score\nx,1\n")
    monkeypatch.setattr("aae_core.images.training.ACCURACY_TABLE", table)
    at = page("digits_accuracy.py").run()
    assert not at.exception
    assert "lacks the columns" in at.error[0].value
    assert at.metric[0].value.endswith("%")  # the baseline below still works


def test_shipped_models_are_listed():
    assert all(path.suffix == ".safetensors" for path in shipped_image_models().values())
