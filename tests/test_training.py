import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aae_core.checkpoints import load_checkpoint
from aae_core.exceptions import CheckpointError, ConfigError, TrainingError
from aae_core.molecules.families import build_model
from aae_core.molecules.pipeline import prepare_data, resume_molecules, train_molecules
from aae_core.training import Trainer, use_bf16
from tests.conftest import tiny_model_config, tiny_train_config


def _record(events):
    return lambda event, record: events.append((event, record))


def test_dry_run_two_steps_changes_losses(tmp_path, model_config):
    events = []
    history = train_molecules(model_config, tiny_train_config(epochs=2), tmp_path / "m.safetensors",
                              callbacks=[_record(events)])
    steps = [r for e, r in events if e == "step"]
    assert len(steps) == 4 and len(history.epochs) == 2
    assert steps[0]["reconstruction"] != steps[-1]["reconstruction"]
    assert {"discriminator", "generator", "reconstruction"} <= set(steps[-1])
    assert {"validity", "uniqueness"} <= set(history.epochs[-1])
    assert [e for e, _ in events][0] == "data" and events[-1][0] == "end"


def test_same_seed_same_losses(tmp_path, model_config):
    runs = [train_molecules(model_config, tiny_train_config(), tmp_path / f"{i}.safetensors") for i in range(2)]
    assert _without_time(runs[0].steps) == _without_time(runs[1].steps)


def _without_time(records):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in records]


def test_resume_continues_with_same_step_count(tmp_path, model_config):
    full = train_molecules(model_config, tiny_train_config(epochs=2), tmp_path / "full.safetensors")
    path = tmp_path / "part.safetensors"
    train_molecules(model_config, tiny_train_config(epochs=1), path)
    assert load_checkpoint(path).meta["state"]["step"] == 2
    resumed = resume_molecules(path, {"epochs": 2})
    assert load_checkpoint(path).meta["state"]["step"] == 4
    assert _without_time(resumed.steps) == _without_time(full.steps)


def test_stop_event_mid_epoch_then_resume(tmp_path, model_config):
    import threading

    stop = threading.Event()
    path = tmp_path / "stopped.safetensors"

    def stop_after_first(event, record):
        if event == "step":
            stop.set()

    train_molecules(model_config, tiny_train_config(epochs=2), path, callbacks=[stop_after_first], stop_event=stop)
    state = load_checkpoint(path).meta["state"]
    assert state == {**state, "step": 1, "epoch": 0, "batch_in_epoch": 1}
    resumed = resume_molecules(path)
    assert resumed.steps[-1]["step"] == 4


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, model_config):
    path = tmp_path / "nan.safetensors"
    train_molecules(model_config, tiny_train_config(), path)
    good = load_checkpoint(path)

    def poison(event, record):
        if event == "step":
            with torch.no_grad():
                next(trainer.model.decoder.parameters()).fill_(math.nan)

    dataset, tokenizer, _ = prepare_data(model_config, tiny_train_config())
    model = build_model(model_config, tokenizer.vocab_size)
    trainer = Trainer(model, dataset, tiny_train_config(epochs=2), {"model_config": {}}, path, callbacks=[poison])
    trainer.resume()
    with pytest.raises(TrainingError, match="non-finite at step 4.*last good checkpoint \\(step 2\\)"):
        trainer.fit()
    after = load_checkpoint(path)
    assert after.meta["state"] == good.meta["state"]
    assert all(torch.equal(after.model_state[k], v) for k, v in good.model_state.items())


def test_resume_errors(tmp_path, model_config):
    path = tmp_path / "m.safetensors"
    train_molecules(model_config, tiny_train_config(), path)
    dataset, tokenizer, _ = prepare_data(model_config, tiny_train_config())
    bigger = build_model(tiny_model_config(latent_dim=4), tokenizer.vocab_size)
    with pytest.raises(CheckpointError, match="does not fit"):
        Trainer(bigger, dataset, tiny_train_config(), {}, path).resume()


def test_bf16_autocast_is_opt_in_where_slow():
    assert use_bf16("off", torch.device("cpu")) is False
    assert use_bf16("bf16", torch.device("cpu")) is True
    assert use_bf16("auto", torch.device("cpu")) == torch.cpu._is_avx512_bf16_supported()


# -- DistributedDataParallel on gloo, two real processes launched by torchrun -------------------------
def _cli_train(out, batch_size: int, launcher: list[str]) -> list[dict]:
    args = ["--threads", "1", "train", "--out", str(out), "--quiet", "--batch-size", str(batch_size),
            "--max-molecules", "96", "--hidden-dim", "32", "--decoder-hidden-dim", "64", "--latent-dim", "8",
            "--embedding-dim", "16", "--discriminator-dims", "32", "--epochs", "1", "--log-every", "1",
            "--monitor-samples", "8"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*launcher, *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(launcher)} exited {done.returncode}:\n{done.stderr[-4000:]}"
    return _without_time(load_checkpoint(out).meta["history"]["steps"])


@pytest.mark.slow
def test_ddp_two_processes_match_one_process_with_doubled_batch(tmp_path):
    single = _cli_train(tmp_path / "single.safetensors", 32, [sys.executable, "-m", "aae_core.cli"])
    # --standalone: torchrun binds its rendezvous store to a port of its own choosing (port 0) and shares it with
    # the workers. A port picked here and passed as --master-port was free only until this process let it go,
    # seconds before torchrun bound it: a connection made meanwhile could take it, and torchrun exited 1.
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--local-addr", "127.0.0.1",
                "--nproc-per-node", "2", "-m", "aae_core.cli"]
    ddp = _cli_train(tmp_path / "ddp.safetensors", 16, torchrun)
    assert [r["step"] for r in ddp] == [r["step"] for r in single] == [1, 2, 3]
    for one, two in zip(single, ddp, strict=True):
        assert two["reconstruction"] == pytest.approx(one["reconstruction"], rel=2e-2)
        assert two["discriminator"] == pytest.approx(one["discriminator"], abs=0.05)
        assert two["generator"] == pytest.approx(one["generator"], abs=0.05)


def test_max_steps_stops_with_checkpoint(tmp_path, model_config):
    path = tmp_path / "m.safetensors"
    history = train_molecules(model_config, tiny_train_config(epochs=3, max_steps=3), path)
    assert history.steps[-1]["step"] == 3 and load_checkpoint(path).meta["state"]["step"] == 3


def test_length_buckets_cut_padding_and_keep_every_molecule_once(model_config):
    def batches(buckets: bool) -> list[torch.Tensor]:
        config = tiny_train_config(max_molecules=3000, batch_size=16, length_buckets=buckets)
        dataset, tokenizer, _ = prepare_data(model_config, config)
        trainer = Trainer(build_model(model_config, tokenizer.vocab_size), dataset, config, {}, "/dev/null")
        padded = sum(len(b) * int(dataset.lengths[b].max()) for b in trainer._batches(0))
        return trainer._batches(0), padded

    plain, plain_padded = batches(False)
    bucketed, bucketed_padded = batches(True)
    assert len(bucketed) == len(plain) and all(len(b) == 16 for b in bucketed)
    assert sorted(torch.cat(bucketed).tolist()) == sorted(torch.cat(plain).tolist())  # same rows, once each
    assert bucketed_padded < 0.9 * plain_padded
    assert torch.equal(torch.cat(batches(True)[0]), torch.cat(bucketed))  # fixed by seed and epoch
    assert bucketed[0].tolist() != sorted(bucketed[0].tolist())  # batches are not runs of the file order


def test_init_from_starts_at_the_checkpoint_weights_and_checks_the_architecture(tmp_path, model_config):
    first = tmp_path / "first.safetensors"
    fresh = train_molecules(model_config, tiny_train_config(epochs=6), first)
    noisier = tiny_model_config(posterior_noise=1.0, posterior_noise_final=0.5, posterior_noise_anneal_steps=4)
    tuned = train_molecules(noisier, tiny_train_config(epochs=1, init_from=str(first)), tmp_path / "tuned.safetensors")
    start, end = fresh.steps[0]["reconstruction"], fresh.steps[-1]["reconstruction"]
    assert tuned.steps[0]["reconstruction"] < (start + end) / 2  # goes on from the trained weights
    assert tuned.steps[0]["posterior_noise"] == pytest.approx(1.0)  # the new noise schedule starts at its step 0
    meta = load_checkpoint(tmp_path / "tuned.safetensors").meta
    assert meta["train_config"]["init_from"] == str(first) and meta["model_config"]["posterior_noise"] == 1.0
    assert meta["tokenizer"] == load_checkpoint(first).meta["tokenizer"]
    with pytest.raises(CheckpointError, match="architecture differs"):
        train_molecules(tiny_model_config(latent_dim=4), tiny_train_config(init_from=str(first)),
                        tmp_path / "wrong.safetensors")
    digits = next(Path(__file__).resolve().parents[1].glob("checkpoints/digits_*.safetensors"))
    with pytest.raises(CheckpointError, match="image model"):
        train_molecules(model_config, tiny_train_config(init_from=str(digits)), tmp_path / "wrong.safetensors")


def test_lr_milestones_multiply_every_rate_after_their_epoch(tmp_path, model_config):
    history = train_molecules(model_config, tiny_train_config(epochs=4, lr_gamma=1.0, lr_milestones=[2, 3],
                                                              milestone_gamma=0.5), tmp_path / "m.safetensors")
    rates = [record["lr"] for record in history.epochs]  # the rate each epoch ran with
    assert rates == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4])
    with pytest.raises(ConfigError, match="lr_milestones"):
        tiny_train_config(epochs=4, lr_milestones=[4]).validate()
