"""``aae-lab train-images``: one command makes a checkpoint whose card holds the command and its metrics."""

from __future__ import annotations

import struct

import torch

from aae_core.cli import main
from aae_core.registry import load_model
from tests.images.conftest import gzip_bomb

TINY = ["--max-images", "120", "--hidden-dim", "16", "--discriminator-dims", "8", "--batch-size", "50",
        "--epochs", "1", "--device", "cpu", "--quiet"]


def test_train_images_writes_a_carded_weights_only_checkpoint(tmp_path, capsys):
    out = tmp_path / "semi.safetensors"
    argv = ["train-images", "--out", str(out), "--model", "semi-supervised", "--num-labels", "20", "--holdout", "20",
            "--prior", "gaussian,sigma=1", *TINY]
    assert main(argv) == 0
    card = load_model(out).meta["card"]
    assert card["command"].startswith("aae-lab train-images --out")
    assert set(card["metrics"]) == {"reconstruction_bce", "held_out_accuracy", "conditional_accuracy"}
    assert card["wall_s"] > 0
    assert "checkpoint:" in capsys.readouterr().out


def test_train_images_normalises_class_logits_unless_told_not_to(tmp_path):
    """Clustering collapses onto one cluster without batch-normalised logits, so they are the default."""
    for flag, expected in (([], True), (["--no-logit-norm"], False)):
        out = tmp_path / f"cluster{expected}.safetensors"
        argv = ["train-images", "--out", str(out), "--model", "clustering", "--num-classes", "4", *flag, *TINY]
        assert main(argv) == 0
        loaded = load_model(out)
        assert loaded.config.logit_norm is expected
        assert isinstance(loaded.model.logit_norm, torch.nn.BatchNorm1d) is expected


def test_train_images_bad_input_exits_2(tmp_path, capsys):
    assert main(["train-images", "--out", str(tmp_path / "x.safetensors"), "--data", "pictures.png", *TINY]) == 2
    assert "unknown image source" in capsys.readouterr().err
    assert main(["train-images", "--out", str(tmp_path / "x.safetensors"), "--model", "label-prior", *TINY]) == 2
    assert "mixture prior" in capsys.readouterr().err


def test_train_images_refuses_a_gzip_bomb_in_one_line(tmp_path, capsys):
    """230 MiB of zeros packed in 240 KB as MNIST train-images: exit 2, one ``error:`` line naming the file and the
    limit, and no checkpoint."""
    bomb = gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", bytes([0, 0, 8, 3]) + struct.pack(">3I", 294_000, 28, 28),
                     230 * 2**20)
    out = tmp_path / "x.safetensors"
    assert main(["train-images", "--out", str(out), "--data", str(bomb), *TINY]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "train-images-idx3-ubyte.gz declares an array of shape (294000, 28, 28) (220 MiB), over the limit of " \
           "200 MiB" in err
    assert not out.exists()
