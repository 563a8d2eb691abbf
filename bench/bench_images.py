"""Benchmark: the classic AAE digit experiments (Makhzani et al. 2015, Sec. 5-6) on fixed splits.

Every AAE run goes through the CLI (``aae-lab train-images ...``, printed before it runs), so each figure
here can be reproduced with that one command; its checkpoint card holds the same metrics. Figures:

- logistic regression on the labelled rows only (checks that the split matches: 75.3% MNIST, 89.2% digits);
- semi-supervised AAE held-out accuracy vs number of labels;
- unsupervised clustering (16 clusters): cluster accuracy, each cluster mapped to its majority label.

Data: the MNIST test set in /work/shared/data/mnist (8,000 train / 2,000 held out, stratified, seed 0) and
scikit-learn's digits (80% / 20%). Merges its rows into assets/digits/semisupervised_accuracy.csv (one row per
dataset, method, labels and seed; aae_core.images.accuracy_table) for the dashboard.

Usage: python bench/bench_images.py [--only digits|mnist|clustering ...] [--seeds 0 1 2] [--out-dir DIR] [--threads 1]
[--ship]. Each semi-supervised row is trained once per seed; ``--ship`` ships the seed-0 models.

The variants tried and dropped, with their measured results, are in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import tempfile
from pathlib import Path

import torch

from aae_core.checkpoints import load_checkpoint, save_checkpoint
from aae_core.cli import main as cli
from aae_core.images.accuracy_table import write_rows
from aae_core.images.metrics import logistic_baseline
from aae_core.images.training import ACCURACY_TABLE, ImageConfig, prepare_images
from aae_core.images.training import SHIPPED as SHIPPED_DIR
from aae_core.registry import load_model

MNIST = Path("/work/shared/data/mnist/t10k-images-idx3-ubyte.gz")
SPLITS = {"digits": ("digits", "0.2"), "mnist-8k": (str(MNIST), "2000")}
# Shared by every digit run: encoder dropout 0.25 and input noise 0.2, batch-normalised class logits, the paper
# walk-through's learning rates with no decay (the generator rate pinned, not left to TrainConfig's default).
RECIPE = ["--dropout", "0.25", "--input-noise", "0.2", "--logit-norm", "--prior", "gaussian,sigma=1",
          "--batch-size", "100", "--lr", "0.0006", "--discriminator-lr", "0.0008", "--generator-lr", "0.001",
          "--lr-gamma", "1.0", "--device", "cpu", "--autocast", "off"]
# Semi-supervised nets, added to RECIPE: a 2-D style code and the class logits doubled (--logit-scale 2).
NETS = {
        # 8x8 digits, 100 labels, neighbour consistency: held out 96.1 / 94.2 / 95.0 / 94.2% (seeds 0-3, mean 94.9%)
        "digits": ["--latent-dim", "2", "--logit-scale", "2", "--hidden-dim", "256", "--discriminator-dims",
                   "256,256", "--epochs", "200", "--consistency", "5", "--neighbours", "5"],
        # MNIST-8k, 100 labels, warped input: held out 96.75 / 95.9 / 96.55% (seeds 0-2, mean 96.4%)
        "mnist-8k": ["--latent-dim", "2", "--logit-scale", "2", "--hidden-dim", "1000", "--discriminator-dims",
                     "256,256", "--epochs", "30", "--input-shift", "2", "--input-rotation", "15", "--input-zoom", "0.1",
                     "--consistency", "1"]}
# MNIST-8k, 16 clusters, deskewed and warped input, 5-neighbour consistency, best of 4 starts: held out
# 93.3 / 87.95 / 90.65% (seeds 0-2, mean 90.6%; seed 0 ships)
CLUSTERING = ["--latent-dim", "2", "--hidden-dim", "400", "--discriminator-dims", "256,256", "--epochs", "150",
              "--input-shift", "2", "--input-rotation", "15", "--input-zoom", "0.1", "--consistency", "20",
              "--neighbours", "5", "--deskew", "--restarts", "4", "--restart-epochs", "20", "--lr-milestones", "120"]
# 8x8 digits over seeds 0-2 (mean held out): 50 / 100 / 200 labels 95.8 / 95.1 / 95.8%.
LABELS = {"digits": [50, 100, 200], "mnist-8k": [100]}
SHIPPED = {("digits", 100): "digits_semisupervised", ("mnist-8k", 100): "digits_mnist_semisupervised"}
SHIPPED_CLUSTERING = "digits_mnist_clustering"


def shipped_path(name: str) -> Path:
    """Where the shipped model ``name`` is written, relative to the working directory so that the command in its
    card stays portable."""
    return Path(os.path.relpath(SHIPPED_DIR / f"{name}.safetensors"))


def run_cli(argv: list[str], ship: bool = False) -> dict:
    """Run ``aae-lab`` with ``argv``; returns the checkpoint's model card. ``ship``: rewrite the checkpoint
    without its optimizer and RNG state (shipped files are inference-only)."""
    print("$ aae-lab " + shlex.join(argv), flush=True)
    if cli(argv) != 0:
        raise SystemExit(f"aae-lab failed: {shlex.join(argv)}")
    out = argv[argv.index("--out") + 1]
    if ship:
        checkpoint = load_checkpoint(out)
        save_checkpoint(out, checkpoint.model_state, checkpoint.meta)
    return load_model(out).meta["card"]


def baseline_rows(dataset: str) -> list[dict]:
    data, holdout = SPLITS[dataset]
    rows = []
    for labels in LABELS[dataset]:
        prepared = prepare_images(ImageConfig(model="semi-supervised", data=data, holdout=float(holdout),
                                              num_labels=labels))
        accuracy = logistic_baseline(prepared)
        print(f"{dataset}: logistic regression, {labels} labels: {accuracy:.1%}", flush=True)
        rows.append({"dataset": dataset, "method": "logistic regression", "labels": labels, "seed": None,
                     "accuracy": accuracy, "wall_s": None, "cpu_s": None})
    return rows


def semi_rows(dataset: str, out_dir: Path, threads: int, ship: bool, seeds: list[int]) -> list[dict]:
    data, holdout = SPLITS[dataset]
    rows = []
    for labels in LABELS[dataset]:
        for seed in seeds:
            shipped = SHIPPED.get((dataset, labels)) if ship and seed == 0 else None
            out = shipped_path(shipped) if shipped else out_dir / f"semi_{dataset}_{labels}_seed{seed}.safetensors"
            card = run_cli(["--threads", str(threads), "train-images", "--quiet", "--out", str(out), "--model",
                            "semi-supervised", "--data", data, "--holdout", holdout, "--num-labels", str(labels),
                            *RECIPE, "--seed", str(seed), *NETS[dataset]], ship=shipped is not None)
            accuracy = card["metrics"]["held_out_accuracy"]
            print(f"{dataset}: semi-supervised AAE, {labels} labels, seed {seed}: {accuracy:.1%} (wall "
                  f"{card['wall_s']} s, CPU {card['cpu_s']} s)", flush=True)
            rows.append({"dataset": dataset, "method": "semi-supervised AAE", "labels": labels, "seed": seed,
                         "accuracy": accuracy, "wall_s": card["wall_s"], "cpu_s": card["cpu_s"]})
    return rows


def clustering(out_dir: Path, threads: int, ship: bool) -> None:
    out = shipped_path(SHIPPED_CLUSTERING) if ship else out_dir / "cluster16.safetensors"
    card = run_cli(["--threads", str(threads), "train-images", "--quiet", "--out", str(out), "--model", "clustering",
                    "--num-classes", "16", "--data", str(MNIST), "--holdout", "2000", *RECIPE, "--seed", "0",
                    *CLUSTERING], ship=ship)
    print(f"mnist-8k: clustering, 16 clusters: {json.dumps(card['metrics'])} (wall {card['wall_s']} s, "
          f"CPU {card['cpu_s']} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=["digits", "mnist", "clustering"],
                        default=["digits", "mnist", "clustering"])
    parser.add_argument("--out-dir", default=None, help="where the benchmark checkpoints go (default: a temp dir)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds of each semi-supervised "
                        "row (default: 0)")
    parser.add_argument("--ship", action="store_true", help="write the 100-label and clustering models to "
                        f"checkpoints/ ({', '.join([*SHIPPED.values(), SHIPPED_CLUSTERING])})")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out_dir = Path(args.out_dir or tempfile.mkdtemp(prefix="bench-images-"))
    needs_mnist = {"mnist", "clustering"} & set(args.only)
    if needs_mnist and not MNIST.is_file():
        raise SystemExit(f"MNIST test set not found at {MNIST}; run with --only digits")
    rows = []
    for dataset in [d for d, key in (("digits", "digits"), ("mnist-8k", "mnist")) if key in args.only]:
        rows += baseline_rows(dataset) + semi_rows(dataset, out_dir, args.threads, args.ship, args.seeds)
    if "clustering" in args.only:
        clustering(out_dir, args.threads, args.ship)
    if rows:  # rows of other datasets, label counts and seeds from earlier runs stay
        print(write_rows(rows, ACCURACY_TABLE).to_string(index=False))


if __name__ == "__main__":
    main()
