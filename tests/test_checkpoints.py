import errno
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from aae_core.checkpoints import (
    FORMAT_VERSION,
    atomic_output,
    check_output,
    load_checkpoint,
    require_family,
    save_checkpoint,
)
from aae_core.exceptions import CheckpointError, OutputError
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.molecules.pipeline import resume_molecules
from aae_core.registry import load_model


def test_save_load_round_trip(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.ones(2))])
    optimizer.param_groups[0]["params"][0].grad = torch.ones(2)
    optimizer.step()
    path = save_checkpoint(tmp_path / "c.safetensors", state, {"card": {"name": "x"}}, {"autoencoder": optimizer},
                           torch.get_rng_state())
    ckpt = load_checkpoint(path)
    assert torch.equal(ckpt.model_state["w"], state["w"])
    assert ckpt.meta["card"] == {"name": "x"} and ckpt.meta["format_version"] == FORMAT_VERSION
    assert set(ckpt.optimizer_states["autoencoder"]["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert torch.equal(ckpt.rng_state, torch.get_rng_state())
    assert not list(tmp_path.glob("*.tmp")), "temporary file left behind"


def test_loaded_model_samples_identically(trained_checkpoint):
    first = MoleculeGenerator(load_model(trained_checkpoint)).sample(20, seed=7)
    second = MoleculeGenerator(load_model(trained_checkpoint)).sample(20, seed=7)
    assert first == second and len(first) == 20


def test_truncated_file(trained_checkpoint, tmp_path):
    data = trained_checkpoint.read_bytes()
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt or another format"):
        load_model(path)


def test_foreign_files(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(1)}, plain)
    with pytest.raises(CheckpointError, match="not an aae-lab checkpoint"):
        load_checkpoint(plain)
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(CheckpointError, match="not a readable aae-lab checkpoint"):
        load_checkpoint(pickled)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_newer_format_and_mismatched_weights(tmp_path, trained_checkpoint):
    path = tmp_path / "future.safetensors"
    save_file({"model.w": torch.zeros(1)}, path, metadata={"aae_lab": json.dumps(
        {"format": "aae-lab", "format_version": FORMAT_VERSION + 1})})
    with pytest.raises(CheckpointError, match="upgrade aae-lab"):
        load_checkpoint(path)
    ckpt = load_checkpoint(trained_checkpoint)
    broken = tmp_path / "broken.safetensors"
    save_checkpoint(broken, {"model.w": torch.zeros(1)}, {k: v for k, v in ckpt.meta.items()})
    with pytest.raises(CheckpointError, match="cannot be rebuilt"):
        load_model(broken)


# -- atomic outputs, stale temporaries, families ------------------------------------------------------
def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_temporaries_go_on_the_next_save(tmp_path):
    path = tmp_path / "c.safetensors"
    stale = [tmp_path / f".c.safetensors.{_dead_pid()}.abcd1234.tmp", tmp_path / ".c.safetensors.k2j4h5g6.tmp"]
    kept = [tmp_path / f".c.safetensors.{os.getppid()}.abcd1234.tmp",  # a save in progress in a live process
            tmp_path / f".c.safetensors.x.{_dead_pid()}.abcd1234.tmp"]  # another file's ("c.safetensors.x")
    for temp in stale + kept:
        temp.write_bytes(b"")
    save_checkpoint(path, {"w": torch.zeros(2)}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in [path, *kept])


def test_kill_9_during_a_save_leaves_nothing_after_the_next_save_or_resume(tmp_path, trained_checkpoint):
    path = tmp_path / "run.safetensors"
    shutil.copy(trained_checkpoint, path)
    dies_mid_write = f"""
import os, pathlib, signal
from aae_core.checkpoints import load_checkpoint, save_checkpoint
def write_half_then_die(self, data):
    with open(self, "wb") as handle:
        handle.write(data[: len(data) // 2])
    os.kill(os.getpid(), signal.SIGKILL)
pathlib.Path.write_bytes = write_half_then_die
ckpt = load_checkpoint({str(path)!r})
save_checkpoint({str(path)!r}, ckpt.model_state, ckpt.meta, ckpt.optimizer_states, ckpt.rng_state)
"""
    before, temps = path.read_bytes(), []
    for _ in range(2):  # the second save removes the first one's temporary file
        process = subprocess.run([sys.executable, "-c", dies_mid_write], env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert process.returncode == -signal.SIGKILL
        temps.append(list(tmp_path.glob(".run.safetensors.*.tmp")))
    assert len(temps[0]) == len(temps[1]) == 1 and temps[0] != temps[1] and path.read_bytes() == before
    resume_molecules(path)  # its two epochs are done: nothing to train, nothing saved
    assert [p.name for p in tmp_path.iterdir()] == ["run.safetensors"]


def test_atomic_output_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    with pytest.raises(OutputError, match="No space left on device; nothing was written"), atomic_output(path) as tmp:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    with pytest.raises(OutputError, match="cannot write"), atomic_output(tmp_path / "missing" / "x.csv"):
        pass


def test_check_output(tmp_path):
    assert check_output(tmp_path / "x.csv") == tmp_path / "x.csv"
    with pytest.raises(OutputError, match="is a folder"):
        check_output(tmp_path)
    with pytest.raises(OutputError, match="does not exist"):
        check_output(tmp_path / "a" / "x.csv")
    assert check_output(tmp_path / "a" / "x.csv", create_folder=True) and (tmp_path / "a").is_dir()
    with pytest.raises(OutputError, match="cannot be written"):
        check_output("x" * 300)
    with pytest.raises(OutputError, match="not a regular file"):
        check_output("/dev/null")
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def test_family_is_checked_both_ways(trained_checkpoint):
    digits = Path(__file__).resolve().parents[1] / "checkpoints" / "digits_aae_gaussian.safetensors"
    assert require_family(trained_checkpoint, "molecules", "sampling")["tokenizer"]
    assert require_family(digits, "images", "the digits page")["modality"] == "images"
    with pytest.raises(CheckpointError, match="holds a molecule model; the digits page needs an image model"):
        require_family(trained_checkpoint, "images", "the digits page")
    with pytest.raises(CheckpointError, match="holds an image model; sampling needs a molecule model"):
        require_family(digits, "molecules", "sampling")
