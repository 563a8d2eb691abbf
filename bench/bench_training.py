"""Training and sampling throughput of the sequence AAE, fp32 vs bf16 autocast, in one run.

Usage::

    python bench/bench_training.py [--threads 2] [--steps 5] [--molecules 4000]

Prints molecules/s for one full AAE step (reconstruction, discriminator and generator phases, the generator
update either separate as in the paper or joint with the reconstruction as in MOSES; joint also with
``--length-buckets``, batches of similar-length molecules) in fp32
for the shipped configuration (read from ``checkpoints/aae_moses.safetensors``) and for the MOSES AAE
defaults (embedding 32, bidirectional LSTM encoder 512, 2-layer LSTM decoder 512 whose initial state comes
from z, latent 128, discriminator [640, 256], batch 512); the bf16-autocast/fp32
ratio of a training step and of sampling on the shipped configuration (small batches: on CPUs without
AVX512-BF16 bf16 is emulated and very slow); and sampling throughput (batch 1,000). Each training rate is
also given as the GFLOP/s of its matmuls (counted from the layer sizes) next to the fp32 rate of one
LSTM-sized matmul measured in the same run: how close training runs to what this CPU can do at all.
Figures are meant to be read as ratios within one run: the machine may be shared.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from aae_core.checkpoints import load_checkpoint
from aae_core.config import ADVERSARIAL_UPDATES, ModelConfig, TrainConfig, from_dict
from aae_core.molecules.families import build_model
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.molecules.pipeline import prepare_data
from aae_core.registry import LoadedModel
from aae_core.training import Trainer

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "aae_moses.safetensors"
MOSES_DEFAULTS = ModelConfig(latent_dim=128, hidden_dim=512, decoder_hidden_dim=512, decoder_num_layers=2, cell="lstm",
                             discriminator_dims=[640, 256], latent_input="initial_state")


def shipped_config() -> tuple[ModelConfig, int]:
    """Model configuration and batch size of the shipped MOSES AAE (read from its checkpoint)."""
    meta = load_checkpoint(SHIPPED).meta
    return from_dict(ModelConfig, meta["model_config"]), meta["train_config"]["batch_size"]


def token_gflop(cfg: ModelConfig, vocab: int) -> tuple[float, float]:
    """Forward GFLOP per token position of the encoder and decoder matmuls, and of the encoder alone (RNN
    gates + output layer; the embedding and the small latent/discriminator layers are left out): 2 FLOP per
    multiply-add,
    ``gates * hidden * (input + hidden)`` multiply-adds per RNN layer and direction."""
    gates = {"gru": 3, "lstm": 4}[cfg.cell]
    directions = 2 if cfg.bidirectional else 1

    def rnn(first_input: int, hidden: int, layers: int, ways: int) -> int:
        inputs = [first_input] + [hidden * ways] * (layers - 1)
        return sum(2 * gates * hidden * (i + hidden) * ways for i in inputs)

    decoder_input = cfg.embedding_dim + (cfg.latent_dim if cfg.latent_input == "every_step" else 0)
    encoder = rnn(cfg.embedding_dim, cfg.hidden_dim, cfg.num_layers, directions)
    decoder = rnn(decoder_input, cfg.decoder_hidden_dim, cfg.decoder_num_layers, 1) + 2 * cfg.decoder_hidden_dim * vocab
    return (encoder + decoder) / 1e9, encoder / 1e9


def step_gflop_per_token(cfg: ModelConfig, vocab: int) -> float:
    """Training GFLOP per padded token position: forward + backward ~ 3x forward for the reconstruction
    pass, plus another encoder forward + backward when the generator update is a separate phase."""
    both, encoder = token_gflop(cfg, vocab)
    return 3 * both + (3 * encoder if cfg.adversarial_update == "separate" else 0)


def matmul_gflops(repeat: int = 20) -> float:
    """fp32 GFLOP/s of a (512, 1024) @ (1024, 2048) matmul, an LSTM-sized product, on this run's threads."""
    a, b = torch.randn(512, 1024), torch.randn(1024, 2048)
    for _ in range(3):
        a @ b
    started = time.perf_counter()
    for _ in range(repeat):
        a @ b
    return 2 * 512 * 1024 * 2048 * repeat / (time.perf_counter() - started) / 1e9


def train_throughput(model_cfg: ModelConfig, batch_size: int, autocast: str, steps: int, molecules: int,
                     length_buckets: bool = False) -> tuple[float, float, float]:
    """Molecules/s over ``steps`` full AAE training steps (after one warm-up step), the training GFLOP/s
    that rate stands for (:func:`step_gflop_per_token` x padded positions), and the share of padded
    positions that hold a real token."""
    train_cfg = TrainConfig(max_molecules=molecules, batch_size=batch_size, autocast=autocast, pretrain_epochs=0,
                            length_buckets=length_buckets)
    dataset, tokenizer, _ = prepare_data(model_cfg, train_cfg)
    torch.manual_seed(0)
    trainer = Trainer(build_model(model_cfg, tokenizer.vocab_size), dataset, train_cfg, {}, "/dev/null")
    batches = trainer._batches(0)
    trainer._step(dataset.batch(batches[0]), pretraining=False)  # warm-up
    started, seen, positions, tokens = time.perf_counter(), 0, 0, 0
    for indices in batches[1: steps + 1]:
        batch = dataset.batch(indices)
        trainer._step(batch, pretraining=False)
        seen += len(indices)
        positions, tokens = positions + batch["tokens"].numel(), tokens + int(batch["lengths"].sum())
    seconds = time.perf_counter() - started
    gflops = positions * step_gflop_per_token(model_cfg, tokenizer.vocab_size) / seconds
    return seen / seconds, gflops, tokens / positions


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
    peak = matmul_gflops()
    print(f"fp32 matmul (512x1024 @ 1024x2048): {peak:.0f} GFLOP/s")
    shipped, batch = shipped_config()
    for name, (cfg, size) in {"shipped": (shipped, batch), "moses-defaults": (MOSES_DEFAULTS, 512)}.items():
        for update, buckets in [(update, False) for update in ADVERSARIAL_UPDATES] + [("joint", True)]:
            fp32, gflops, useful = train_throughput(replace(cfg, adversarial_update=update), size, "off", args.steps,
                                                    args.molecules, buckets)
            update = update + (" + length buckets" if buckets else "")
            print(f"train {name:15s} batch {size:4d}, {update:25s} generator update: fp32 {fp32:7.1f} mol/s = "
                  f"{gflops:5.0f} GFLOP/s ({gflops / peak:.0%} of the matmul rate; real tokens {useful:.0%} of "
                  f"the padded positions)", flush=True)
    fp32 = train_throughput(shipped, 32, "off", 2, args.molecules)[0]
    bf16 = train_throughput(shipped, 32, "bf16", 2, args.molecules)[0]
    print(f"train shipped batch 32: fp32 {fp32:7.1f} mol/s, bf16 {bf16:7.1f} mol/s, bf16/fp32 {bf16 / fp32:.3f}x")
    fp32 = sample_throughput(shipped, False, n=100)
    bf16 = sample_throughput(shipped, True, n=100)
    print(f"sample shipped batch 100: fp32 {fp32:7.1f} mol/s, bf16 {bf16:7.1f} mol/s, bf16/fp32 {bf16 / fp32:.3f}x")
    print(f"sample shipped batch 1000: fp32 {sample_throughput(shipped, False):7.1f} mol/s")


if __name__ == "__main__":
    main()
