"""One self-describing checkpoint file: safetensors tensors + a JSON header.

Layout of ``model.safetensors``-style file (format ``aae-lab``, ``format_version`` 1):

- tensors ``model.<name>``: the model's ``state_dict``;
- tensors ``optim.<phase>.<index>.<key>``: optimizer state (only in resumable checkpoints);
- tensor ``rng.torch``: the CPU random-number state (resumable checkpoints);
- safetensors metadata key ``aae_lab``: JSON with ``format``, ``format_version``, ``model_config``,
  ``train_config``, ``tokenizer``, ``history``, ``card``, ``state`` and the optimizers' param groups.

Loading never executes code (no pickle). Writing goes to a temporary file in the same folder that
then replaces the target (``os.replace``), so a crash never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from aae_core.exceptions import CheckpointError

FORMAT = "aae-lab"
FORMAT_VERSION = 1
META_KEY = "aae_lab"


@dataclass
class Checkpoint:
    """Contents of a checkpoint file."""

    model_state: dict[str, torch.Tensor]
    meta: dict
    optimizer_states: dict[str, dict] = field(default_factory=dict)
    rng_state: torch.Tensor | None = None


def save_checkpoint(path: str | Path, model_state: dict[str, torch.Tensor], meta: dict,
                    optimizers: dict[str, torch.optim.Optimizer | dict] | None = None,
                    rng_state: torch.Tensor | None = None) -> Path:
    """Atomically write a checkpoint; returns its path. ``meta`` must be JSON-serialisable.

    ``optimizers`` maps each phase to an optimizer or to its ``state_dict()`` (as
    :attr:`Checkpoint.optimizer_states` holds them, so a loaded checkpoint can be written back unchanged).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model_state.items()}
    groups = {}
    for phase, optimizer in (optimizers or {}).items():
        state = optimizer if isinstance(optimizer, dict) else optimizer.state_dict()
        groups[phase] = state["param_groups"]
        for index, values in state["state"].items():
            for key, value in values.items():
                tensors[f"optim.{phase}.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    if rng_state is not None:
        tensors["rng.torch"] = rng_state
    header = {**meta, "format": FORMAT, "format_version": FORMAT_VERSION, "optimizer_groups": groups}
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        save_file(tensors, tmp, metadata={META_KEY: json.dumps(header)})
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated or corrupt, is not an aae-lab checkpoint (e.g. a plain
        safetensors or a pickle file), or has a newer ``format_version``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw_meta = (handle.metadata() or {}).get(META_KEY)
            if raw_meta is None:
                raise CheckpointError(f"{path.name} is a safetensors file but not an aae-lab checkpoint")
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(
            f"{path.name} is not a readable aae-lab checkpoint (truncated, corrupt or another format): {err}"
        ) from err
    meta = _parse_meta(raw_meta, path)
    return Checkpoint(
        model_state={k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")},
        meta=meta,
        optimizer_states=_optimizer_states(tensors, meta.pop("optimizer_groups", {})),
        rng_state=tensors.get("rng.torch"),
    )


def _parse_meta(raw: str, path: Path) -> dict:
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path.name} has a corrupt header: {err}") from err
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is not an aae-lab checkpoint (format {meta.get('format')!r})")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path.name} has format_version {meta['format_version']}; this aae-lab reads "
                              f"up to {FORMAT_VERSION}: upgrade aae-lab")
    return meta


def _optimizer_states(tensors: dict[str, torch.Tensor], groups: dict) -> dict[str, dict]:
    states: dict[str, dict] = {phase: {"state": {}, "param_groups": g} for phase, g in groups.items()}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, phase, index, name = key.split(".", 3)
            states[phase]["state"].setdefault(int(index), {})[name] = value
    return states


def finish_checkpoint(path: str | Path, card: dict) -> None:
    """Rewrite a final checkpoint as weights + meta only (about a third of the size; it can no longer be
    resumed), with ``card`` entries (wall time, measured metrics) added to its model card."""
    ckpt = load_checkpoint(path)
    ckpt.meta["card"] = {**ckpt.meta.get("card", {}), **card}
    save_checkpoint(path, ckpt.model_state, ckpt.meta)
