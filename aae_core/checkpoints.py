"""One self-describing checkpoint file: safetensors tensors + a JSON header.

Layout of ``model.safetensors``-style file (format ``aae-lab``, ``format_version`` 1):

- tensors ``model.<name>``: the model's ``state_dict``;
- tensors ``optim.<phase>.<index>.<key>``: optimizer state (only in resumable checkpoints);
- tensor ``rng.torch``: the CPU random-number state (resumable checkpoints);
- safetensors metadata key ``aae_lab``: JSON with ``format``, ``format_version``, ``model_config``,
  ``train_config``, ``tokenizer``, ``history``, ``card``, ``state`` and the optimizers' param groups.

Loading never executes code (no pickle). Writing goes to a temporary file in the same folder that
then replaces the target (``os.replace``), so a crash never leaves a half-written checkpoint; every other
output of aae-lab (CSV, JSON, reports) is written the same way, through :func:`atomic_output`, after
:func:`check_output` has checked the path before any work starts. Temporary files left by a killed process
are removed by the next write to the same target (:func:`remove_stale_temps`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from aae_core.exceptions import CheckpointError, OutputError

FORMAT = "aae-lab"
FORMAT_VERSION = 1
META_KEY = "aae_lab"
#: Model families a checkpoint can hold (see :func:`model_family`).
FAMILIES = ("molecules", "images")
_FAMILY_NOUNS = {"molecules": "a molecule model", "images": "an image model", None: "no model of a known family"}
_IN_FLIGHT: set[Path] = set()  # temporary files this process is writing now, resolved (never removed as stale)
_IN_FLIGHT_LOCK = threading.Lock()


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
    The folder is created if needed; temporary files of earlier interrupted saves of ``path`` are removed.

    Raises
    ------
    OutputError
        If the file cannot be written (read-only folder, full disk, ...); the old file at ``path`` is kept as it was.
    """
    path = check_output(path, "checkpoint", create_folder=True)
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
    data = save(tensors, metadata={META_KEY: json.dumps(header)})  # bytes: safetensors' own writer leaves temp files
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return path


# -- atomic outputs --------------------------------------------------------------------------------
def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _temp_prefix(path: Path) -> str:
    """Start of the names of ``path``'s temporary files: ``.<name>.`` (the name cut to 100 characters)."""
    return f".{path.name[:100]}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: the process exists, under another user
        return True
    return True


def _is_stale(temp: Path, prefix: str) -> bool:
    """Whether ``temp`` is a temporary file of the target whose names start with ``prefix``
    (``<prefix><pid>.<random>.tmp``, or ``<prefix><random>.tmp`` from an older aae-lab) left by a process that is
    gone, or by this process outside a write in progress."""
    match = re.fullmatch(re.escape(prefix) + r"(?:(\d+)\.)?[a-z0-9_]{8}\.tmp", temp.name)
    if match is None:
        return False
    with _IN_FLIGHT_LOCK:
        if temp.resolve() in _IN_FLIGHT:
            return False
    pid = match.group(1)
    return not (pid is not None and int(pid) != os.getpid() and _pid_alive(int(pid)))


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Remove the temporary files an interrupted (e.g. killed) write of ``path`` left in its folder; those of a
    write in progress in a live process stay. Returns the paths removed; never raises."""
    path = Path(path)
    prefix = _temp_prefix(path)
    removed = []
    with contextlib.suppress(OSError):
        for temp in path.parent.iterdir():
            if _is_stale(temp, prefix):
                with contextlib.suppress(OSError):
                    temp.unlink()
                    removed.append(temp)
    return removed


def _os_message(err: OSError) -> str:
    return err.strerror or str(err)


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Write ``path`` all at once: yields a temporary path in the same folder to write to; when the block ends
    without error the file is flushed to disk and replaces ``path`` (``os.replace``), otherwise it is removed, so
    ``path`` is either its old self or complete, never half-written. Stale temporaries of earlier killed
    writes of ``path`` are removed first (:func:`remove_stale_temps`).

    Raises
    ------
    OutputError
        If the file cannot be written (missing or read-only folder, ``path`` is a folder, full disk, ...); the
        message names ``path`` and the reason.
    """
    path = Path(path)
    remove_stale_temps(path)
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f"{_temp_prefix(path)}{os.getpid()}.", suffix=".tmp")
    except OSError as err:
        raise OutputError(f"cannot write {path}: {_os_message(err)}") from err
    os.close(handle)
    tmp = Path(name).resolve()
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT.add(tmp)
    try:
        yield tmp
        _commit(tmp, path)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {_os_message(err)}; nothing was written") from err
    finally:
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT.discard(tmp)
        with contextlib.suppress(OSError):
            tmp.unlink()


def _commit(tmp: Path, path: Path) -> None:
    """Flush ``tmp`` to disk, give it the permissions a new file gets (mkstemp makes it 0600) and move it to
    ``path``."""
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def check_output(path: str | Path, what: str = "--out", create_folder: bool = False) -> Path:
    """Check, before any work, that a file can be written at ``path``: it is not a folder or a special file, its
    folder exists (with ``create_folder``: is created) and a file can be created in it. Returns ``path``.

    Raises
    ------
    OutputError
        Naming ``what`` (e.g. the option), ``path`` and what is wrong.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise OutputError(f"{what} {path} is a folder: give a file name (e.g. {path / 'out.csv'})")
        if path.exists() and not path.is_file():
            raise OutputError(f"{what} {path} exists and is not a regular file: give a new file name")
        folder = path.parent
        if create_folder:
            folder.mkdir(parents=True, exist_ok=True)
        elif not folder.is_dir():
            raise OutputError(f"{what} {path}: the folder {folder} does not exist; create it first")
        _probe(folder)
    except OSError as err:
        raise OutputError(f"{what} {path} cannot be written: {_os_message(err)}") from err
    return path


def check_output_folder(path: str | Path, what: str = "--out") -> Path:
    """Create the folder ``path`` (and its parents) if needed and check a file can be written in it. Returns it.

    Raises
    ------
    OutputError
        If ``path`` is a file or the folder cannot be created or written.
    """
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise OutputError(f"{what} {path} is a file, not a folder: give a folder for the report")
        path.mkdir(parents=True, exist_ok=True)
        _probe(path)
    except OSError as err:
        raise OutputError(f"{what} {path} cannot be written: {_os_message(err)}") from err
    return path


def _probe(folder: Path) -> None:
    """Create and remove a temporary file in ``folder``; raises OSError if that is not possible."""
    handle, name = tempfile.mkstemp(dir=folder, prefix=".aae-lab-probe.", suffix=".tmp")
    os.close(handle)
    os.unlink(name)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated or corrupt, is not an aae-lab checkpoint (e.g. a plain
        safetensors or a pickle file), or has a newer ``format_version``.
    """
    raw_meta, tensors = _read(Path(path), tensors=True)
    meta = _parse_meta(raw_meta, Path(path))
    return Checkpoint(
        model_state={k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")},
        meta=meta,
        optimizer_states=_optimizer_states(tensors, meta.pop("optimizer_groups", {})),
        rng_state=tensors.get("rng.torch"),
    )


def read_meta(path: str | Path) -> dict:
    """The JSON header of the checkpoint at ``path`` (configs, tokenizer, card, ...) without reading its tensors.

    Raises
    ------
    CheckpointError
        As :func:`load_checkpoint`.
    """
    return _parse_meta(_read(Path(path), tensors=False)[0], Path(path))


def _read(path: Path, tensors: bool) -> tuple[str, dict[str, torch.Tensor]]:
    """The raw JSON header and (if ``tensors``) the tensors of a checkpoint file."""
    try:
        if not path.is_file():
            raise CheckpointError(f"no checkpoint at {path}")
        with safe_open(str(path), framework="pt") as handle:
            raw_meta = (handle.metadata() or {}).get(META_KEY)
            if raw_meta is None:
                raise CheckpointError(f"{path.name} is a safetensors file but not an aae-lab checkpoint")
            return raw_meta, {key: handle.get_tensor(key) for key in handle.keys()} if tensors else {}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        if isinstance(err, CheckpointError):
            raise
        raise CheckpointError(
            f"{path.name} is not a readable aae-lab checkpoint (truncated, corrupt or another format): {err}"
        ) from err


def model_family(meta: dict) -> str | None:
    """The family of the model a checkpoint header describes: ``"images"`` (meta ``modality``), ``"molecules"``
    (it has a tokenizer) or ``None`` (neither)."""
    if meta.get("modality") == "images":
        return "images"
    return "molecules" if "tokenizer" in meta else None


def require_family(path: str | Path, family: str, use: str) -> dict:
    """The header of the checkpoint at ``path`` (:func:`read_meta`) if it holds a ``family`` model
    (one of :data:`FAMILIES`); ``use`` says what it is needed for (e.g. "aae-lab sample").

    Raises
    ------
    CheckpointError
        If it does not (the message names both families), or as :func:`load_checkpoint`.
    """
    meta = read_meta(path)
    found = model_family(meta)
    if found != family:
        raise CheckpointError(f"{Path(path).name} holds {_FAMILY_NOUNS[found]}; {use} needs "
                              f"{_FAMILY_NOUNS[family]} checkpoint")
    return meta


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
