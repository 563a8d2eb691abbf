"""Training and sampling throughput of the sequence AAE, fp32 vs bf16 autocast, in one run.

Usage::

    python bench/bench_training.py [--threads 2] [--steps 5] [--molecules 4000]

Prints molecules/s for one full AAE step (reconstruction, discriminator and generator phases, the generator
update either separate as in the paper or joint with the reconstruction as in MOSES) in fp32
for the shipped configuration (read from ``checkpoints/aae_moses.safetensors``) and for the MOSES AAE
defaults (embedding 32, bidirectional LSTM encoder 512, 2-layer LSTM decoder 512 whose initial state comes
from z, latent 128, discriminator [640, 256], batch 512); the bf16-autocast/fp32
ratio of a training step and of sampling on the shipped configuration (small batches: on CPUs without
AVX512-BF16 bf16 is emulated and very slow); and sampling throughput (batch 1,000). Figures are meant to
be read as ratios within one run: the machine may be shared.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from aae_core.checkpoints import load_checkpoint
from aae_core.config import ADVERSARIAL_UPDATES, ModelConfig, TrainConfig, from_dict
from aae_core.generation import MoleculeGenerator
from aae_core.pipeline import prepare_data
from aae_core.registry import LoadedModel, build_model
from aae_core.training import Trainer

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "aae_moses.safetensors"
MOSES_DEFAULTS = ModelConfig(latent_dim=128, hidden_dim=512, decoder_hidden_dim=512, decoder_num_layers=2, cell="lstm",
                             discriminator_dims=[640, 256], latent_input="initial_state")


def shipped_config() -> tuple[ModelConfig, int]:
    """Model configuration and batch size of the shipped MOSES AAE (read from its checkpoint)."""
    meta = load_checkpoint(SHIPPED).meta
    return from_dict(ModelConfig, meta["model_config"]), meta["train_config"]["batch_size"]


def train_throughput(model_cfg: ModelConfig, batch_size: int, autocast: str, steps: int, molecules: int) -> float:
    """Molecules/s over ``steps`` full AAE training steps (after one warm-up step)."""
    train_cfg = TrainConfig(max_molecules=molecules, batch_size=batch_size, autocast=autocast, pretrain_epochs=0)
    dataset, tokenizer, _ = prepare_data(model_cfg, train_cfg)
    torch.manual_seed(0)
    trainer = Trainer(build_model(model_cfg, tokenizer.vocab_size), dataset, train_cfg, {}, "/dev/null")
    batches = trainer._batches(0)
    trainer._step(dataset.batch(batches[0]), pretraining=False)  # warm-up
    started, seen = time.perf_counter(), 0
    for indices in batches[1: steps + 1]:
        trainer._step(dataset.batch(indices), pretraining=False)
        seen += len(indices)
    return seen / (time.perf_counter() - started)


def sample_throughput(model_cfg: ModelConfig, autocast: bool, n: int = 1000) -> float:
    """Molecules/s of prior sampling with one batch of ``n`` (after a warm-up batch of 10)."""
    _, tokenizer, _ = prepare_data(model_cfg, TrainConfig(max_molecules=2000))
    model = build_model(model_cfg, tokenizer.vocab_size).eval()
    generator = MoleculeGenerator(LoadedModel(model, tokenizer, model_cfg, {}, None))
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        generator.sample(10, seed=0)
        started = time.perf_counter()
        generator.sample(n, seed=1, batch_size=n)
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--molecules", type=int, default=4000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, AVX512-BF16: {torch.cpu._is_avx512_bf16_supported()}")
    shipped, batch = shipped_config()
    for name, (cfg, size) in {"shipped": (shipped, batch), "moses-defaults": (MOSES_DEFAULTS, 512)}.items():
        for update in ADVERSARIAL_UPDATES:
            fp32 = train_throughput(replace(cfg, adversarial_update=update), size, "off", args.steps, args.molecules)
            print(f"train {name:15s} batch {size:4d}, {update:8s} generator update: fp32 {fp32:7.1f} mol/s", flush=True)
    fp32 = train_throughput(shipped, 32, "off", 2, args.molecules)
    bf16 = train_throughput(shipped, 32, "bf16", 2, args.molecules)
    print(f"train shipped batch 32: fp32 {fp32:7.1f} mol/s, bf16 {bf16:7.1f} mol/s, bf16/fp32 {bf16 / fp32:.3f}x")
    fp32 = sample_throughput(shipped, False, n=100)
    bf16 = sample_throughput(shipped, True, n=100)
    print(f"sample shipped batch 100: fp32 {fp32:7.1f} mol/s, bf16 {bf16:7.1f} mol/s, bf16/fp32 {bf16 / fp32:.3f}x")
    print(f"sample shipped batch 1000: fp32 {sample_throughput(shipped, False):7.1f} mol/s")


if __name__ == "__main__":
    main()
