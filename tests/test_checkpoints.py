import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from aae_core.checkpoints import FORMAT_VERSION, load_checkpoint, save_checkpoint
from aae_core.exceptions import CheckpointError
from aae_core.generation import MoleculeGenerator
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
