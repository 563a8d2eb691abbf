"""The server-wide book of sessions: one training run per session, a cap for the server, and the runs and
temporary folders of sessions that have gone are stopped and removed; and the training worker itself."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from aae_core.exceptions import CheckpointError
from dashboard.jobs import MAP_MOLECULES, LimitError, SampleSummary, Sessions, TrainingJob
from tests.dashboard.conftest import tiny_configs


class FakeJob:
    """A training run that goes on until it is cancelled (or ``finish`` is called)."""

    def __init__(self, name: str = "run", stops_when_cancelled: bool = True):
        self.name, self.stops_when_cancelled = name, stops_when_cancelled
        self.started = self.cancelled = False
        self.done = threading.Event()

    def start(self) -> FakeJob:
        self.started = True
        return self

    def cancel(self) -> None:
        self.cancelled = True
        if self.stops_when_cancelled:
            self.done.set()

    def finish(self) -> None:
        self.done.set()

    @property
    def running(self) -> bool:
        return self.started and not self.done.is_set()


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def book():
    """Makes books of sessions whose browser ids are alive as a dict says, on a clock the test sets; their
    folders go afterwards."""
    made = []

    def make(alive: dict[str, bool], max_running: int = 2, grace_s: float = 10.0) -> tuple[Sessions, Clock]:
        clock = Clock()
        made.append(Sessions(max_running, grace_s, alive=lambda browser_id: alive.get(browser_id, False),
                             clock=clock, reap_every_s=None))
        return made[-1], clock

    yield make
    for sessions in made:
        sessions.close()


def test_one_run_per_session_at_a_time(book):
    sessions, _ = book({"tab": True})
    first = sessions.start("a", "tab", FakeJob("first"))
    assert first.started and sessions.running() == 1
    with pytest.raises(LimitError, match="this session is already training first: one run per session"):
        sessions.start("a", "tab", FakeJob("second"))
    first.finish()
    assert sessions.start("a", "tab", FakeJob("third")).started


def test_the_server_runs_at_most_max_running_at_once(book):
    sessions, _ = book({"1": True, "2": True, "3": True})
    runs = [sessions.start(key, key, FakeJob(key)) for key in ("1", "2")]
    third = FakeJob("3")
    with pytest.raises(LimitError, match=r"already running 2 training run\(s\), as many as it allows at once \(2\)"):
        sessions.start("3", "3", third)
    assert not third.started
    runs[0].finish()
    assert sessions.start("3", "3", third).started and sessions.running() == 2


def test_a_gone_session_has_its_run_stopped_then_its_folder_removed(book):
    alive = {"tab": True}
    sessions, clock = book(alive, grace_s=10.0)
    folder = sessions.folder("a", "tab")
    (folder / "model.safetensors").write_bytes(b"weights")
    job = sessions.start("a", "tab", FakeJob(stops_when_cancelled=False))
    assert sessions.reap() == [] and not job.cancelled  # still connected
    alive["tab"] = False
    clock.now = 9.0
    assert sessions.reap() == [] and not job.cancelled  # a reconnect may still come within the grace period
    clock.now = 11.0
    assert sessions.reap() == [] and job.cancelled and folder.is_dir()  # asked to stop; it writes its checkpoint
    job.finish()
    assert sessions.reap() == ["a"] and not folder.exists()
    assert sessions.folder("a", "tab") != folder  # forgotten: a later use starts afresh


def test_a_session_that_comes_back_keeps_its_run_and_folder(book):
    alive = {"tab": False}
    sessions, clock = book(alive, grace_s=10.0)
    folder = sessions.folder("a", "tab")
    job = sessions.start("a", "tab", FakeJob())
    clock.now = 8.0
    sessions.reap()
    alive["tab"] = True  # the browser reconnected
    clock.now = 30.0
    sessions.reap()
    alive["tab"] = False
    clock.now = 35.0
    assert sessions.reap() == [] and job.running and folder.is_dir()


def test_gone_sessions_without_a_run_lose_their_folders_and_others_keep_theirs(book):
    alive = {"open": True}
    sessions, clock = book(alive, grace_s=1.0)
    kept, removed = sessions.folder("a", "open"), sessions.folder("b", "closed")
    clock.now = 2.0
    assert sessions.reap() == ["b"]
    assert kept.is_dir() and not removed.exists()


def test_close_stops_every_run_and_removes_every_folder(book):
    sessions, _ = book({"tab": True})
    folder = sessions.folder("a", "tab")
    job = sessions.start("a", "tab", FakeJob())
    sessions.close()
    assert job.cancelled and not folder.exists() and sessions.running() == 0


def test_the_reaper_thread_reaps_by_itself():
    sessions = Sessions(grace_s=0.0, alive=lambda browser_id: False, reap_every_s=0.05)
    folder = sessions.folder("a", "gone")
    deadline = time.monotonic() + 30
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not folder.exists()


def test_training_job_runs_in_a_thread_and_can_be_cancelled(tmp_path):
    model_cfg, train_cfg = tiny_configs(max_molecules=200, epochs=50)
    job = TrainingJob("t", tmp_path / "t.safetensors", model_cfg, train_cfg).start()
    deadline = time.monotonic() + 60
    while not job.steps and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job.status == "training" and job.report["kept"] == 200 and 0 < job.progress < 1
    job.cancel()
    job.thread.join(timeout=60)
    assert job.status == "cancelled" and job.has_model and job.error is None


def test_two_training_jobs_at_once_do_not_interfere(tmp_path):
    model_cfg, train_cfg = tiny_configs(max_molecules=200, epochs=1)
    jobs = [TrainingJob(name, tmp_path / f"{name}.safetensors", model_cfg, train_cfg, {"name": name}).start()
            for name in ("first", "second")]
    for job in jobs:
        job.thread.join(timeout=120)
    assert [job.status for job in jobs] == ["finished", "finished"]
    assert all(job.has_model and len(job.steps) == 3 for job in jobs)
    assert jobs[0].path != jobs[1].path


def test_training_job_reports_bad_data(tmp_path):
    model_cfg, train_cfg = tiny_configs()
    bad = tmp_path / "bad.smi"
    bad.write_text("not_a_smiles\n")
    job = TrainingJob("t", tmp_path / "t.safetensors", model_cfg, train_cfg.__class__(data=str(bad))).start()
    job.thread.join(timeout=60)
    assert job.status == "failed" and "no valid molecule" in job.error and not job.has_model


def test_a_2d_run_keeps_a_live_map_and_ends_with_a_sample_summary(tmp_path):
    model_cfg, train_cfg = tiny_configs(max_molecules=200, epochs=2, latent_dim=2)
    train_cfg.checkpoint_every = 2
    job = TrainingJob("map", tmp_path / "map.safetensors", model_cfg, train_cfg, live_map=True, samples=50)
    seen = []
    job.start()
    while job.running:
        if job.snapshot is not None and (not seen or seen[-1] != job.snapshot.step):
            seen.append(job.snapshot.step)
        time.sleep(0.05)
    assert job.status == "finished" and job.map_error is None, job.error
    assert job.snapshot.step == job.steps[-1]["step"]  # the last checkpoint is always drawn
    assert len(job.snapshot.smiles) == len(job.snapshot.codes) <= MAP_MOLECULES
    assert job.snapshot.codes.dtype == np.float32 and job.snapshot.codes.shape[1] == 2
    summary = job.summary
    assert summary.n == 50 and len(summary.valid_smiles) <= 50 and 0 <= summary.uniqueness <= 1


def test_a_map_that_fails_stops_the_map_not_the_training(tmp_path, monkeypatch):
    model_cfg, train_cfg = tiny_configs(max_molecules=100, epochs=1, latent_dim=2)
    train_cfg.checkpoint_every = 1

    def broken(*args):
        raise RuntimeError("no map today")

    monkeypatch.setattr("dashboard.jobs.latent_snapshot", broken)
    job = TrainingJob("map", tmp_path / "map.safetensors", model_cfg, train_cfg, live_map=True).start()
    job.thread.join(timeout=120)
    assert job.status == "finished" and job.snapshot is None and job.map_error == "RuntimeError: no map today"


def test_a_prepare_step_runs_first_and_its_failure_fails_the_run(tmp_path):
    model_cfg, train_cfg = tiny_configs(max_molecules=100, epochs=1)

    def prepare():
        raise CheckpointError("cannot cut the shipped model")

    job = TrainingJob("t", tmp_path / "t.safetensors", model_cfg, train_cfg, prepare=prepare).start()
    job.thread.join(timeout=60)
    assert job.status == "failed" and job.error == "cannot cut the shipped model" and not job.has_model


def test_sample_summary_counts_validity_uniqueness_and_size():
    summary = SampleSummary.of(["CCO", "CCO", "c1ccccc1", "C(("], np.array([True, True, True, False]))
    assert summary.validity == 0.75 and summary.uniqueness == pytest.approx(2 / 3)
    assert summary.heavy_atoms == pytest.approx((3 + 3 + 6) / 3) and summary.valid_smiles == ["CCO", "c1ccccc1"]
    assert np.isnan(SampleSummary.of(["x"], np.array([False])).heavy_atoms)
