"""The shared training loop: phases, optimizers, history, checkpoints, resume, NaN guard, DDP.

Any model with ``phases(pretraining)``, ``parameter_groups()`` and ``forward(batch, phase) -> {"loss":
..., <term>: ...}`` trains here (AAE, VAE, image models); any dataset with ``__len__`` and
``batch(indices) -> dict`` of tensors feeds it. Data order depends only on ``(seed, epoch)``, so a
resumed run continues with the same batches and step count. Under ``torchrun`` the loop runs
data-parallel with PyTorch DistributedDataParallel: each of ``world_size`` ranks takes its slice of a
global batch of ``batch_size * world_size``.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from aae_core.checkpoints import load_checkpoint, remove_stale_temps, save_checkpoint
from aae_core.config import TrainConfig, to_dict
from aae_core.exceptions import CheckpointError, TrainingError

Callback = Callable[[str, dict], None]
BUCKET_POOL = 50  # batches per pool sorted by length when TrainConfig.length_buckets is set


def _length_buckets(order: torch.Tensor, lengths: torch.Tensor, size: int,
                    generator: torch.Generator) -> list[torch.Tensor]:
    """Batches of ``size`` rows of ``order`` (shuffled row indices): each pool of :data:`BUCKET_POOL` batches
    sorted by ``lengths`` (n,), cut into batches, and the batches shuffled."""
    pools = order.split(size * BUCKET_POOL)
    batches = torch.cat([pool[torch.argsort(lengths[pool], stable=True)] for pool in pools]).split(size)
    return [batches[i] for i in torch.randperm(len(batches), generator=generator)]


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu. Raises :class:`TrainingError` if the device is absent."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if not available.get(name.split(":")[0], False):
        raise TrainingError(f"device {name!r} is not available here; use one of "
                            f"{[d for d, ok in available.items() if ok]} or 'auto'")
    return torch.device(name)


def use_bf16(setting: str, device: torch.device) -> bool:
    """Whether to train (or decode) under bf16 autocast. ``auto`` enables it only where bf16 is fast: CUDA GPUs with
    bf16 support, or CPUs with AVX-512-BF16 (on CPUs without it, bf16 matmuls are emulated and ~100x
    slower; see bench/bench_training.py)."""
    if setting != "auto":
        return setting == "bf16"
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and torch.cpu._is_avx512_bf16_supported()


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)


def init_distributed() -> bool:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1): NCCL on CUDA, gloo
    otherwise; each rank uses GPU ``LOCAL_RANK``. Returns whether training is distributed."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return True


def finish_distributed() -> None:
    """After a run that every rank completed: wait for the other ranks (rank 0 samples and saves after the last step),
    then leave the process group of :func:`init_distributed` (if any).

    A process that exits without ``destroy_process_group`` can abort in gloo's teardown ("terminate called without an
    active exception", SIGABRT: gloo's worker threads still hold work when the interpreter finalises; pytorch issue
    190489, PR 179291), and torchrun then stops the other ranks and exits 1. Not called after a failure: destroying
    the group while another rank is inside a collective can hang (torchtitan PR 1342)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


@dataclass
class History:
    """Loss records: ``steps`` every ``log_every`` steps, ``epochs`` once per epoch (means of the epoch's
    steps plus the monitor's metrics, e.g. validity). Each record has ``step``, ``epoch``, ``time_s``."""

    steps: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"steps": self.steps, "epochs": self.epochs}

    @classmethod
    def from_dict(cls, data: dict | None) -> History:
        data = data or {}
        return cls(steps=list(data.get("steps", [])), epochs=list(data.get("epochs", [])))


@dataclass
class TrainState:
    """Where a run stands: completed ``step``s, the current ``epoch`` and batches done in it."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    elapsed_s: float = 0.0


class Trainer:
    """Train ``model`` on ``dataset`` with ``config``.

    Parameters
    ----------
    meta : JSON-serialisable description stored in every checkpoint (model config, tokenizer, card).
    checkpoint_path : where checkpoints are written (atomically).
    monitor : called with the model at the end of each epoch; returns metrics to record (e.g. validity).
    callbacks : called with (event, record) for events "step", "epoch", "checkpoint", "end".
    stop_event : when set (e.g. by a Cancel button), training stops after the current step and writes
        a checkpoint.
    """

    def __init__(self, model: nn.Module, dataset, config: TrainConfig, meta: dict, checkpoint_path: str | Path,
                 monitor: Callable[[nn.Module], dict] | None = None, callbacks: list[Callback] | None = None,
                 stop_event: threading.Event | None = None):
        self.config = config
        self.device = pick_device(config.device)
        self.model = model.to(self.device)
        self.dataset, self.meta, self.path = dataset, meta, Path(checkpoint_path)
        self.monitor, self.callbacks = monitor, callbacks or []
        self.stop_event = stop_event or threading.Event()
        self.bf16 = use_bf16(config.autocast, self.device)
        self.rank, self.world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
        self.optimizers = self._make_optimizers()
        self.history, self.state = History(), TrainState()
        self.last_checkpoint_step: int | None = None
        self.wrapped = (nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
                        if self.world > 1 else model)

    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        cfg = self.config
        rates = {"autoencoder": cfg.lr, "discriminator": cfg.discriminator_lr,
                 "generator": cfg.generator_lr or cfg.discriminator_lr}
        return {phase: torch.optim.Adam(params, lr=rates.get(phase, cfg.lr))
                for phase, params in self.model.parameter_groups().items()}

    # -- resume ------------------------------------------------------------------------------------
    def resume(self, path: str | Path | None = None) -> Trainer:
        """Restore weights, optimizers, RNG, history and position from a resumable checkpoint; temporary files an
        interrupted save of it left behind are removed.

        Raises
        ------
        CheckpointError
            If the checkpoint has no optimizer state or belongs to a different model.
        """
        ckpt = load_checkpoint(path or self.path)
        remove_stale_temps(path or self.path)
        if not ckpt.optimizer_states:
            raise CheckpointError(f"{Path(path or self.path).name} holds no optimizer state: it cannot be resumed")
        try:
            self.model.load_state_dict(ckpt.model_state)
        except RuntimeError as err:
            raise CheckpointError(f"checkpoint does not fit this model configuration: {err}") from err
        for phase, state in ckpt.optimizer_states.items():
            self.optimizers[phase].load_state_dict(state)
        if ckpt.rng_state is not None:
            torch.set_rng_state(ckpt.rng_state)
        self.history = History.from_dict(ckpt.meta.get("history"))
        self.state = TrainState(**ckpt.meta["state"])
        self.last_checkpoint_step = self.state.step
        return self

    # -- loop --------------------------------------------------------------------------------------
    def fit(self) -> History:
        """Run until ``epochs`` are done, the time budget is spent, or ``stop_event`` is set.

        Raises
        ------
        TrainingError
            If a loss becomes NaN or infinite; the last good checkpoint is kept as it was.
        """
        cfg, started = self.config, time.monotonic()
        base_elapsed = self.state.elapsed_s
        while self.state.epoch < cfg.epochs:
            sums, count, completed = self._run_epoch(started, base_elapsed)
            if not completed:  # stopped mid-epoch by the time budget or stop_event
                break
            self._end_epoch(sums, count, started, base_elapsed)
            if self._should_stop(started):
                break
        self.state.elapsed_s = base_elapsed + time.monotonic() - started
        if self.last_checkpoint_step != self.state.step:
            self.save()
        self._emit("end", {"step": self.state.step, "epoch": self.state.epoch})
        return self.history

    def _run_epoch(self, started: float, base_elapsed: float) -> tuple[dict[str, float], int, bool]:
        cfg, state = self.config, self.state
        pretraining = state.epoch < cfg.pretrain_epochs
        batches = self._batches(state.epoch)
        sums: dict[str, float] = {}
        count = 0
        self.model.train()
        for index in range(state.batch_in_epoch, len(batches)):
            terms = self._step(self.dataset.batch(batches[index]), pretraining)
            state.step, state.batch_in_epoch, count = state.step + 1, index + 1, count + 1
            for key, value in terms.items():
                sums[key] = sums.get(key, 0.0) + value
            record = {"step": state.step, "epoch": state.epoch, "batch": index + 1, "batches": len(batches),
                      "time_s": round(base_elapsed + time.monotonic() - started, 3), **terms}
            if state.step % cfg.log_every == 0:
                self.history.steps.append(record)
            self._emit("step", record)
            if state.step % cfg.checkpoint_every == 0:
                state.elapsed_s = record["time_s"]
                self.save()
            if self._should_stop(started) and index + 1 < len(batches):
                return sums, count, False
        return sums, count, True

    def _batches(self, epoch: int) -> list[torch.Tensor]:
        """Index batches of ``epoch`` for this rank (order fixed by seed and epoch only).

        With ``length_buckets`` (sequence data), the shuffled rows are cut into pools of
        :data:`BUCKET_POOL` batches, each pool is sorted by length and cut into batches, and the batches are
        shuffled: every batch is still a random draw from its pool, but holds molecules of similar length, so
        less of each padded batch is padding (the "bucketing" of sequence-to-sequence toolkits).
        """
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
        order = torch.randperm(len(self.dataset), generator=generator)
        size = self.config.batch_size * self.world
        order = order[: len(order) // size * size or len(order)]  # whole batches only (one if fewer rows)
        lengths = getattr(self.dataset, "lengths", None)
        if self.config.length_buckets and lengths is not None:
            full = _length_buckets(order, lengths, size, generator)
        else:
            full = list(order.split(size))
        return [chunk[self.rank:: self.world] for chunk in full]

    def _step(self, batch: dict[str, torch.Tensor], pretraining: bool) -> dict[str, float]:
        batch = {k: v.to(self.device) for k, v in batch.items()}
        terms: dict[str, float] = {}
        for phase in self.model.phases(pretraining):
            optimizer = self.optimizers[phase]
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                out = self.wrapped(batch, phase)
            out["loss"].backward()
            nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], self.config.grad_clip)
            optimizer.step()
            terms.update({k: v.detach().float() for k, v in out.items() if k != "loss"})
        terms = self._mean_over_ranks(terms)
        bad = {k: v for k, v in terms.items() if not math.isfinite(v)}
        if bad:
            where = (f"the last good checkpoint (step {self.last_checkpoint_step}) is kept at {self.path}"
                     if self.last_checkpoint_step is not None else "no checkpoint was written yet")
            raise TrainingError(f"loss became non-finite at step {self.state.step + 1} ({bad}); {where}. "
                                "Lower the learning rate or grad_clip and resume.")
        return terms

    def _mean_over_ranks(self, terms: dict[str, torch.Tensor]) -> dict[str, float]:
        """Loss terms averaged over ranks (the loss of the global batch, up to token weighting)."""
        values = torch.stack(list(terms.values())) if terms else torch.zeros(0)
        if self.world > 1:
            dist.all_reduce(values)
            values /= self.world
        return dict(zip(terms, values.tolist(), strict=True))

    def _end_epoch(self, sums: dict[str, float], count: int, started: float, base_elapsed: float) -> None:
        state = self.state
        record = {"step": state.step, "epoch": state.epoch + 1,
                  "time_s": round(base_elapsed + time.monotonic() - started, 3),
                  **{k: v / max(count, 1) for k, v in sums.items()},
                  "lr": self.optimizers["autoencoder"].param_groups[0]["lr"]}
        if self.monitor is not None and self.rank == 0:
            self.model.eval()
            record.update(self.monitor(self.model))
            self.model.train()
        self.history.epochs.append(record)
        factor = self.config.lr_gamma if state.epoch >= self.config.pretrain_epochs else 1.0
        if state.epoch + 1 in self.config.lr_milestones:
            factor *= self.config.milestone_gamma
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group["lr"] *= factor
        state.epoch, state.batch_in_epoch, state.elapsed_s = state.epoch + 1, 0, record["time_s"]
        self._emit("epoch", record)
        self.save()

    def _should_stop(self, started: float) -> bool:
        budget, max_steps = self.config.time_budget_s, self.config.max_steps
        return (self.stop_event.is_set() or (budget is not None and time.monotonic() - started >= budget)
                or (max_steps is not None and self.state.step >= max_steps))

    # -- output ------------------------------------------------------------------------------------
    def save(self) -> Path | None:
        """Write a resumable checkpoint (rank 0 only)."""
        if self.rank != 0:
            return None
        meta = {**self.meta, "train_config": to_dict(self.config), "history": self.history.to_dict(),
                "state": vars(self.state).copy()}
        save_checkpoint(self.path, self.model.state_dict(), meta, self.optimizers, torch.get_rng_state())
        self.last_checkpoint_step = self.state.step
        self._emit("checkpoint", {"step": self.state.step, "path": str(self.path)})
        return self.path

    def _emit(self, event: str, record: dict) -> None:
        if self.rank == 0:
            for callback in self.callbacks:
                callback(event, record)
