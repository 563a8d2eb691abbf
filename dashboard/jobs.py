"""Training runs in worker threads, and the server-wide book of the browser sessions that own them.

A worker thread makes no Streamlit calls: it writes its progress into a plain job object kept in the session's
state, which the page polls. A molecule run can also keep a :class:`LatentSnapshot` of its 2-D codes up to date
(the Train page's live map) and end with a :class:`SampleSummary` of prior samples of the trained model. Each
session has its own job, checkpoint path and stop event, so two browser sessions training at once share nothing
but the CPU.

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

import numpy as np
import torch

from aae_core.checkpoints import finish_checkpoint
from aae_core.config import ModelConfig, TrainConfig
from aae_core.exceptions import AAELabError
from aae_core.images.metrics import evaluate_image_model
from aae_core.images.training import ImageConfig, train_images
from aae_core.molecules import chem
from aae_core.molecules.data import load_molecules
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.molecules.latent_quality import two_sample_auc
from aae_core.molecules.pipeline import train_molecules
from aae_core.registry import LoadedModel, load_model

MAX_RUNNING = 2  # training runs at once in the whole server (each takes a CPU core)
#: Seconds a session may stay disconnected before its run is stopped and its folder removed: Streamlit's
#: default ``server.disconnectedSessionTTL``, after which a tab that reconnects gets a new session anyway.
GRACE_S = float(os.environ.get("AAE_LAB_SESSION_GRACE_S", "120"))
REAP_EVERY_S = 5.0
MAP_MOLECULES = 300  # training molecules (the first ones read) whose codes a live 2-D map shows
MAP_PRIOR = 300  # prior draws on a live map (the same draws at every snapshot)
MAP_EVERY_S = 2.0  # fewest seconds between two snapshots of a live map (each encodes MAP_MOLECULES molecules)


class LimitError(AAELabError):
    """A training run was refused: this session already has one, or the server runs :data:`MAX_RUNNING`."""


class Job(Protocol):
    """What :class:`Sessions` needs of a training run."""

    name: str

    def start(self) -> Job: ...

    def cancel(self) -> None: ...

    @property
    def running(self) -> bool: ...


class ThreadedJob:
    """What every job of the app shares: it runs in ``self.thread`` (a daemon thread, None before it starts) and
    stops at its next check once ``self.stop_event`` is set; the subclass says where that check is."""

    thread: threading.Thread | None
    stop_event: threading.Event

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self.stop_event.set()

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


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
class LatentSnapshot:
    """The raw 2-D codes of a training run at one step, for the live map.

    ``codes`` (n, 2) float32: codes of the first training molecules (``smiles``, n strings) by the encoder at
    ``step``; ``prior`` (m, 2) float32: draws of the model's prior (the same at every snapshot); ``auc``: the
    cross-validated ROC AUC of classifiers told to separate codes from prior draws
    (:func:`aae_core.molecules.latent_quality.two_sample_auc`; 0.5: the codes fill the prior, 1: they are apart).
    """

    step: int
    smiles: list[str]
    codes: np.ndarray
    prior: np.ndarray
    auc: float


@dataclass
class SampleSummary:
    """Prior samples of a trained model (``n`` of them, seed 0): ``validity`` (share RDKit parses),
    ``uniqueness`` (distinct share of the valid ones), ``heavy_atoms`` (mean heavy-atom count of the valid ones,
    NaN without any) and ``valid_smiles`` (the distinct valid ones, in sampling order)."""

    n: int
    validity: float
    uniqueness: float
    heavy_atoms: float
    valid_smiles: list[str]

    @classmethod
    def of(cls, smiles: list[str], valid: np.ndarray) -> SampleSummary:
        """Summary of sampled strings ``smiles`` and their (n,) bool validity marks."""
        good = [s for s, ok in zip(smiles, valid, strict=True) if ok]
        atoms = [chem.mol_from_smiles(s).GetNumHeavyAtoms() for s in good]
        return cls(len(smiles), len(good) / max(len(smiles), 1), len(set(good)) / max(len(good), 1),
                   float(np.mean(atoms)) if atoms else float("nan"), list(dict.fromkeys(good)))


@dataclass
class TrainingJob(ThreadedJob):
    """One training run and everything the page shows about it.

    ``status`` goes ``preparing`` (only with ``prepare``) -> ``loading data`` -> ``training`` -> ``sampling``
    (only with ``samples``) -> ``finished`` | ``cancelled`` | ``failed``; ``steps`` and ``epochs`` are the trainer's
    step and epoch records (see ``aae_core.training``); ``report`` is the data loader's report; ``error`` says why a
    failed run failed. ``cancel()`` stops it after the current step; the trainer then writes its checkpoint.

    ``prepare`` is called first in the worker thread (e.g. to write the checkpoint ``train_cfg.init_from`` names).
    With ``live_map`` (a 2-D model), a second thread updates ``snapshot`` (:class:`LatentSnapshot`) from the
    starting weights of a warm start (step 0), then from the newest checkpoint, at most every :data:`MAP_EVERY_S`
    seconds, and from the last one before the run ends; ``map_error`` says why the map stopped, if it did (training
    goes on).
    With ``samples`` > 0, the finished model draws that many prior samples into ``summary``
    (:class:`SampleSummary`).
    """

    name: str
    path: Path
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    card: dict = field(default_factory=dict)
    prepare: Callable[[], object] | None = None
    live_map: bool = False
    samples: int = 0
    status: str = "loading data"
    report: dict | None = None
    steps: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    snapshot: LatentSnapshot | None = None
    map_error: str | None = None
    summary: SampleSummary | None = None
    error: str | None = None
    collected: bool = False  # its model was added to the session's models
    stop_event: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    thread: threading.Thread | None = None
    _map_step: int | None = field(default=None, repr=False)  # step of the newest checkpoint
    _map_wake: threading.Event = field(default_factory=threading.Event, repr=False)  # a new checkpoint, or the end
    _map_over: threading.Event = field(default_factory=threading.Event, repr=False)  # training is over

    def start(self) -> TrainingJob:
        """Start training in a daemon thread; returns self."""
        self.thread = threading.Thread(target=self._run, name=f"aae-lab-train-{self.name}", daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        mapper = threading.Thread(target=self._draw_map, name=f"aae-lab-map-{self.name}", daemon=True)
        try:
            if self.prepare is not None:
                self.status = "preparing"
                self.prepare()
                self.status = "loading data"
            if self.live_map:
                mapper.start()
                if self.train_cfg.init_from:  # a warm start: the codes where the starting weights put them
                    self._map_step = 0
                    self._map_wake.set()
            train_molecules(self.model_cfg, self.train_cfg, self.path, self.card, [self._record], self.stop_event)
            self._stop_map(mapper)
            if self.samples:
                self.status = "sampling"
                generator = MoleculeGenerator(load_model(self.path))
                self.summary = SampleSummary.of(*generator.sample_marked(self.samples, seed=0))
            self.status = "cancelled" if self.stop_event.is_set() else "finished"
        except AAELabError as err:
            self.error, self.status = str(err), "failed"
        except Exception as err:  # the thread must not die silently: the page shows the message
            self.error, self.status = f"unexpected {type(err).__name__}: {err}", "failed"
        finally:
            self._stop_map(mapper)

    def _record(self, event: str, record: dict) -> None:
        if event == "data":
            self.report, self.status = record, "training"
        elif event == "step":
            self.steps.append(record)
        elif event == "epoch":
            self.epochs.append(record)
        elif event in ("checkpoint", "end"):
            self._map_step = record["step"]
            self._map_wake.set()

    def _draw_map(self) -> None:
        """The map thread: after each new checkpoint (at most every :data:`MAP_EVERY_S` seconds) encode the map's
        molecules with it, beside the training thread (which it never holds up); once training is over, the last
        checkpoint's, then return. A failure stops the map, not the training."""
        while True:
            self._map_wake.wait()
            self._map_wake.clear()
            over, step = self._map_over.is_set(), self._map_step
            if step is not None and self.map_error is None and (self.snapshot is None or self.snapshot.step != step):
                try:
                    path = self.path if step else self.train_cfg.init_from
                    self.snapshot = latent_snapshot(load_model(path), self.train_cfg, step, self.snapshot)
                except Exception as err:  # noqa: BLE001 - the map is a view: training goes on without it
                    self.map_error = f"{type(err).__name__}: {err}"
            if over:
                return
            self._map_over.wait(MAP_EVERY_S)

    def _stop_map(self, mapper: threading.Thread) -> None:
        """Tell the map thread that training is over and wait (at most a minute) for its last snapshot."""
        self._map_over.set()
        self._map_wake.set()
        if mapper.is_alive():
            mapper.join(timeout=60)

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


def latent_snapshot(loaded: LoadedModel, train_cfg: TrainConfig, step: int,
                    previous: LatentSnapshot | None = None) -> LatentSnapshot:
    """The 2-D codes of the first :data:`MAP_MOLECULES` rows of ``train_cfg.data`` under ``loaded`` (the molecules
    and prior draws of ``previous`` when given, so that every snapshot shows the same points).

    Raises
    ------
    DataError
        If the data cannot be read again, or no molecule of its first rows fits the model's tokenizer.
    """
    if previous is None:
        tokenizer = loaded.tokenizer
        smiles = load_molecules(train_cfg.data, train_cfg.smiles_column, tokenizer=tokenizer, max_len=tokenizer.max_len,
                                max_rows=MAP_MOLECULES).smiles
        prior = loaded.model.prior.sample(MAP_PRIOR, torch.Generator().manual_seed(0)).float().numpy()
    else:
        smiles, prior = previous.smiles, previous.prior
    codes = MoleculeGenerator(loaded).encode(smiles)
    auc = two_sample_auc(codes, torch.from_numpy(prior))["prior_auc"]
    return LatentSnapshot(step, smiles, codes.numpy(), prior, auc)


@dataclass
class ImageTrainingJob(ThreadedJob):
    """One run of :func:`aae_core.images.training.train_images` (the Digits pages), then its evaluation; steps are
    renumbered to run on across restart candidates. ``metrics`` is set when it finished, ``error`` when it
    failed. ``cancel()`` stops it after the current step (the model is still evaluated and saved)."""

    name: str
    path: str
    total_epochs: int
    cfg: ImageConfig
    train_cfg: TrainConfig
    card: dict = field(default_factory=dict)
    steps: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
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
                                                    self.stop_event)
            self.metrics = evaluate_image_model(model, prepared, self.cfg.model)
            finish_checkpoint(self.path, {"wall_s": round(time.perf_counter() - started, 1), "metrics": self.metrics,
                                          "epochs_done": len(history.epochs)})
        except AAELabError as err:
            self.error = str(err)
        except Exception as err:  # noqa: BLE001 - shown on the page instead of a traceback
            self.error = f"{type(err).__name__}: {err}"


