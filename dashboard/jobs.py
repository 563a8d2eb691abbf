"""Training runs in worker threads, and the server-wide book of the browser sessions that own them.

A worker thread makes no Streamlit calls: it writes its progress into a plain job object kept in the session's
state, which the page polls. Each session has its own job, checkpoint path and stop event, so two browser
sessions training at once share nothing but the CPU.

:data:`SESSIONS` keeps, for the whole server, each session's temporary folder and training run: one run per
session at a time, at most :data:`MAX_RUNNING` in the server. A browser tab that closes (or reloads, which
makes a new session) leaves its session disconnected; a reaper thread stops the run of a session that has been
gone for :data:`GRACE_S` seconds and then removes its folder.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aae_core.checkpoints import finish_checkpoint
from aae_core.config import ModelConfig, TrainConfig
from aae_core.exceptions import AAELabError
from aae_core.images.metrics import evaluate_image_model
from aae_core.images.training import ImageConfig, train_images
from aae_core.molecules.pipeline import train_molecules

MAX_RUNNING = 2  # training runs at once in the whole server (each takes a CPU core)
#: Seconds a session may stay disconnected before its run is stopped and its folder removed: Streamlit's
#: default ``server.disconnectedSessionTTL``, after which a tab that reconnects gets a new session anyway.
GRACE_S = float(os.environ.get("AAE_LAB_SESSION_GRACE_S", "120"))
REAP_EVERY_S = 5.0


class LimitError(AAELabError):
    """A training run was refused: this session already has one, or the server runs :data:`MAX_RUNNING`."""


class Job(Protocol):
    """What :class:`Sessions` needs of a training run."""

    name: str

    def start(self) -> Job: ...

    def cancel(self) -> None: ...

    @property
    def running(self) -> bool: ...


def streamlit_session_alive(session_id: str) -> bool:
    """Whether the Streamlit server still has a connected browser session ``session_id`` (``True`` outside a
    server, where nothing can be judged)."""
    from streamlit import runtime

    return not runtime.exists() or bool(runtime.get_instance().is_active_session(session_id))


@dataclass
class _Session:
    browser_id: str  # Streamlit's session id, whose connection tells whether the session is still there
    last_seen: float
    folder: Path | None = None
    job: Job | None = None


class Sessions:
    """Server-wide book of the sessions' temporary folders and training runs (thread-safe).

    Parameters
    ----------
    max_running : training runs allowed at once in the server.
    grace_s : seconds a session may be gone before :meth:`reap` stops its run and removes its folder.
    alive : tells whether a Streamlit session id is still connected (:func:`streamlit_session_alive`).
    clock : monotonic seconds.
    reap_every_s : how often a background thread calls :meth:`reap`; ``None``: never (tests call it).
    """

    def __init__(self, max_running: int = MAX_RUNNING, grace_s: float = GRACE_S,
                 alive: Callable[[str], bool] = streamlit_session_alive, clock: Callable[[], float] = time.monotonic,
                 reap_every_s: float | None = REAP_EVERY_S):
        self.max_running, self.grace_s, self.alive, self.clock = max_running, grace_s, alive, clock
        self.reap_every_s = reap_every_s
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self._reaper: threading.Thread | None = None

    def folder(self, key: str, browser_id: str) -> Path:
        """The temporary folder of session ``key`` (made on first use); ``browser_id`` is its Streamlit id."""
        with self._lock:
            session = self._session(key, browser_id)
            if session.folder is None:
                session.folder = Path(tempfile.mkdtemp(prefix="aae-lab-session-"))
            return session.folder

    def start(self, key: str, browser_id: str, job: Job) -> Job:
        """Start ``job`` as the run of session ``key``; returns it.

        Raises
        ------
        LimitError
            If this session's previous run is still going, or :attr:`max_running` runs are.
        """
        with self._lock:
            session = self._session(key, browser_id)
            if session.job is not None and session.job.running:
                raise LimitError(f"this session is already training {session.job.name}: one run per session at a "
                                 "time, so wait for it to end or cancel it")
            running = self._running()
            if running >= self.max_running:
                raise LimitError(f"the server is already running {running} training run(s), as many as it allows "
                                 f"at once ({self.max_running}): try again when one ends")
            session.job = job.start()
            return job

    def running(self) -> int:
        """Training runs going on now in the server."""
        with self._lock:
            return self._running()

    def _running(self) -> int:
        return sum(s.job is not None and s.job.running for s in self._sessions.values())

    def reap(self) -> list[str]:
        """Stop the runs of sessions gone for more than :attr:`grace_s` seconds and, once stopped, remove their
        folders and forget them; returns the keys of the sessions forgotten."""
        now, gone = self.clock(), []
        with self._lock:
            sessions = list(self._sessions.items())
        for key, session in sessions:
            if self.alive(session.browser_id):
                session.last_seen = now
            elif now - session.last_seen > self.grace_s and self._stopped(session):
                gone.append(key)
        with self._lock:
            for key in gone:
                del self._sessions[key]
        return gone

    def close(self) -> None:
        """Stop every run and remove every folder (at server exit)."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            if session.job is not None:
                session.job.cancel()
            if session.folder is not None:
                shutil.rmtree(session.folder, ignore_errors=True)

    @staticmethod
    def _stopped(session: _Session) -> bool:
        """Cancel the session's run if it is going (``False``: come back later); else remove its folder."""
        if session.job is not None and session.job.running:
            session.job.cancel()  # it stops after its current step; its folder goes on a later reap
            return False
        if session.folder is not None:
            shutil.rmtree(session.folder, ignore_errors=True)
        return True

    def _session(self, key: str, browser_id: str) -> _Session:
        """The entry of session ``key``, made on first use (the first one starts the reaper thread). Callers
        hold the lock."""
        if self._reaper is None and self.reap_every_s is not None:
            self._reaper = threading.Thread(target=self._reap_forever, name="aae-lab-session-reaper", daemon=True)
            self._reaper.start()
        session = self._sessions.setdefault(key, _Session(browser_id, self.clock()))
        session.last_seen = self.clock()
        return session

    def _reap_forever(self) -> None:
        while True:
            time.sleep(self.reap_every_s)
            try:
                self.reap()
            except Exception:  # the reaper must outlive one bad pass
                logging.getLogger("aae_lab.dashboard").exception("reaping gone sessions failed")


SESSIONS = Sessions()
atexit.register(SESSIONS.close)


@dataclass
class TrainingJob:
    """One training run and everything the page shows about it.

    ``status`` goes ``loading data`` -> ``training`` -> ``finished`` | ``cancelled`` | ``failed``;
    ``steps`` and ``epochs`` are the trainer's step and epoch records (see ``aae_core.training``);
    ``report`` is the data loader's report; ``error`` says why a failed run failed.
    """

    name: str
    path: Path
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    card: dict = field(default_factory=dict)
    status: str = "loading data"
    report: dict | None = None
    steps: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    error: str | None = None
    collected: bool = False  # its model was added to the session's models
    stop_event: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    thread: threading.Thread | None = None

    def start(self) -> TrainingJob:
        """Start training in a daemon thread; returns self."""
        self.thread = threading.Thread(target=self._run, name=f"aae-lab-train-{self.name}", daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            train_molecules(self.model_cfg, self.train_cfg, self.path, self.card, [self._record], self.stop_event)
            self.status = "cancelled" if self.stop_event.is_set() else "finished"
        except AAELabError as err:
            self.error, self.status = str(err), "failed"
        except Exception as err:  # the thread must not die silently: the page shows the message
            self.error, self.status = f"unexpected {type(err).__name__}: {err}", "failed"

    def _record(self, event: str, record: dict) -> None:
        if event == "data":
            self.report, self.status = record, "training"
        elif event == "step":
            self.steps.append(record)
        elif event == "epoch":
            self.epochs.append(record)

    def cancel(self) -> None:
        """Stop after the current step; the trainer then writes its checkpoint."""
        self.stop_event.set()

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def has_model(self) -> bool:
        """Whether the run is over and left a checkpoint."""
        return not self.running and self.path.is_file()

    @property
    def elapsed_s(self) -> float:
        return self.steps[-1]["time_s"] if self.steps else time.monotonic() - self.started

    @property
    def progress(self) -> float:
        """Fraction done in [0, 1]: epochs done, or the time budget spent, whichever is further."""
        if self.status == "finished":
            return 1.0
        if not self.steps:
            return 0.0
        last = self.steps[-1]
        by_epoch = (last["epoch"] + last["batch"] / last["batches"]) / self.train_cfg.epochs
        budget = self.train_cfg.time_budget_s
        return min(1.0, max(by_epoch, last["time_s"] / budget if budget else 0.0))

    @property
    def history(self) -> dict:
        """The records so far, in the shape of a checkpoint's history."""
        return {"steps": list(self.steps), "epochs": list(self.epochs)}


@dataclass
class ImageTrainingJob:
    """One run of :func:`aae_core.images.training.train_images` (the Digits pages), then its evaluation; steps are
    renumbered to run on across restart candidates. ``metrics`` is set when it finished, ``error`` when it
    failed."""

    name: str
    path: str
    total_epochs: int
    cfg: ImageConfig
    train_cfg: TrainConfig
    card: dict = field(default_factory=dict)
    steps: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    metrics: dict | None = None
    error: str | None = None
    thread: threading.Thread | None = None

    def start(self) -> ImageTrainingJob:
        """Start training in a daemon thread; returns self."""
        self.thread = threading.Thread(target=self._run, name=f"aae-lab-train-{self.name}", daemon=True)
        self.thread.start()
        return self

    def record(self, event: str, record: dict) -> None:
        """Keep step and epoch records."""
        if event == "step":
            self.steps.append({**record, "step": len(self.steps) + 1})
        elif event == "epoch":
            self.epochs.append(record)

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            history, model, prepared = train_images(self.cfg, self.train_cfg, self.path, self.card, [self.record],
                                                    self.stop)
            self.metrics = evaluate_image_model(model, prepared, self.cfg.model)
            finish_checkpoint(self.path, {"wall_s": round(time.perf_counter() - started, 1), "metrics": self.metrics,
                                          "epochs_done": len(history.epochs)})
        except AAELabError as err:
            self.error = str(err)
        except Exception as err:  # noqa: BLE001 - shown on the page instead of a traceback
            self.error = f"{type(err).__name__}: {err}"

    def cancel(self) -> None:
        """Stop after the current step (the model is still evaluated and saved)."""
        self.stop.set()

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()
