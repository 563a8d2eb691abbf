"""A training run in a worker thread. The thread makes no Streamlit calls: it writes its progress into a
plain :class:`TrainingJob` kept in the session's state, which the Train page polls.

Each session has its own job, checkpoint path and stop event, so two browser sessions training at once
do not share anything but the CPU.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from aae_core.config import ModelConfig, TrainConfig
from aae_core.exceptions import AAELabError
from aae_core.pipeline import train_molecules


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
