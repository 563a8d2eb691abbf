import dataclasses
import os

import pandas as pd
import pytest
import torch

from aae_core.checkpoints import load_checkpoint
from aae_core.cli import main, parse_prior
from aae_core.config import ModelConfig, TrainConfig, field_help
from aae_core.images.training import ImageConfig
from aae_core.training import use_bf16

TINY = ["--hidden-dim", "32", "--decoder-hidden-dim", "64", "--latent-dim", "8", "--embedding-dim", "16",
        "--discriminator-dims", "32", "--max-molecules", "64", "--batch-size", "32", "--monitor-samples", "8"]


def test_train_writes_checkpoint_with_card(tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    assert main(["--threads", "1", "train", "--out", str(out), "--quiet", "--epochs", "1", *TINY]) == 0
    meta = load_checkpoint(out).meta
    assert meta["card"]["command"].startswith(f"aae-lab --threads 1 train --out {out} --quiet")
    assert meta["model_config"]["latent_dim"] == 8 and meta["train_config"]["epochs"] == 1
    assert "kept 64" in capsys.readouterr().err
    assert main(["train", "--out", str(out), "--quiet", "--resume", "--epochs", "2"]) == 0
    assert load_checkpoint(out).meta["state"]["epoch"] == 2
    assert "kept 64" in capsys.readouterr().err  # --resume reports its data too


def test_sample_encode_interpolate(trained_checkpoint, tmp_path, capsys):
    model = ["--model", str(trained_checkpoint)]
    out = tmp_path / "s.csv"
    assert main(["sample", *model, "-n", "12", "--seed", "3", "--out", str(out)]) == 0
    frame = pd.read_csv(out, keep_default_na=False)
    assert list(frame.columns) == ["smiles", "valid"] and len(frame) == 12
    assert "valid (" in capsys.readouterr().err
    off = tmp_path / "off.csv"
    assert main(["sample", *model, "-n", "12", "--seed", "3", "--autocast", "off", "--out", str(off)]) == 0
    if not use_bf16("auto", torch.device("cpu")):  # "auto" decoded in float32 too: the same molecules
        assert pd.read_csv(off, keep_default_na=False).equals(frame)
    assert main(["encode", *model, "CCO", "c1ccccc1", "--reconstruct"]) == 0
    encoded = capsys.readouterr().out.splitlines()
    assert encoded[0].startswith("smiles,reconstruction,z0") and len(encoded) == 3
    assert main(["interpolate", *model, "CCO", "CCN", "--steps", "3"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "t,smiles,valid"


def test_sample_with_the_syntax_mask(trained_checkpoint, tmp_path, capsys):
    from tests.molecules.test_grammar import well_formed

    out = tmp_path / "c.csv"
    assert main(["sample", "--model", str(trained_checkpoint), "-n", "40", "--constrained", "--out", str(out)]) == 0
    assert all(map(well_formed, pd.read_csv(out, keep_default_na=False)["smiles"]))


@pytest.mark.parametrize("argv,message", [
    (["encode", "CCO"], "no checkpoint at"),
    (["train", "--out", "x.safetensors", "--cell", "transformer"], "cell='transformer' is not allowed"),
    (["train", "--out", "x.safetensors", "--data", "missing.smi"], "no such file: missing.smi"),
])
def test_bad_input_exits_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if argv[0] == "encode":
        argv = [*argv, "--model", str(tmp_path / "none.safetensors")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_invalid_smiles_and_unknown_command(trained_checkpoint, capsys):
    assert main(["encode", "--model", str(trained_checkpoint), "C1CC"]) == 2
    assert "'C1CC' is not a valid SMILES" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["fly"])
    assert exc.value.code == 2


@pytest.mark.parametrize("cls", [ModelConfig, TrainConfig, ImageConfig])
def test_every_option_says_what_it_means(cls):
    meanings = field_help(cls)
    assert [f.name for f in dataclasses.fields(cls)] == list(meanings) and all(meanings.values())


def test_help_shows_each_fields_meaning(capsys):
    with pytest.raises(SystemExit):
        main(["train-images", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--neighbours NEIGHBOURS k: the consistency phase pairs each image with itself" in shown
    assert "--prior PRIOR p(z): gaussian, mixture, uniform or swiss_roll; e.g. 'gaussian,sigma=1'" in shown


def test_parse_prior():
    assert parse_prior("mixture,k=10,radius=4") == {"name": "mixture", "k": 10, "radius": 4.0}


def test_sigterm_stops_training_with_a_resumable_checkpoint(tmp_path):
    import signal
    import subprocess
    import sys

    out = tmp_path / "long.safetensors"
    argv = [sys.executable, "-m", "aae_core.cli", "--threads", "1", "train", "--out", str(out), "--quiet",
            "--epochs", "1000", *TINY]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    for line in process.stdout:  # the data report comes after the signal handlers are installed
        if line.startswith("data "):
            break
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=120)[0]
    assert process.returncode == 128 + signal.SIGTERM, rest  # schedulers read 0 as "finished"
    assert "stopped by SIGTERM: resumable checkpoint written to" in rest
    state = load_checkpoint(out).meta["state"]
    assert state["step"] >= 1 and state["epoch"] < 1000
    assert load_checkpoint(out).optimizer_states  # resumable
