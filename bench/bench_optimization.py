"""Constrained lead optimisation in latent space: JT-VAE's protocol (Jin et al. 2018, Sec. 4.2) on the MOSES test split.

For each objective (penalized logP, QED): the ``--n-molecules`` (200) molecules of the MOSES test split with the lowest
value among those the model can encode; for each, and for each similarity threshold delta (0.4, 0.6), one search
(``aae_core.molecules.optimization.optimize``, ``--budget`` 500 decoded molecules) constrained to Tanimoto similarity
>= delta.
A molecule succeeds when the search finds another molecule with similarity >= delta and a strictly higher objective;
its improvement is that of the best such molecule, 0 where it fails (as in JT-VAE's code). Reported: mean +/- std of
the improvement over all molecules, success rate, how often any valid decoded molecule reached similarity delta
(constraint or objective aside: what the model's decoder allows), mean similarity of the successful ones, wall
time per search (the start code is fitted to the decoder once per molecule, in its delta 0.4 search).

JT-VAE on ZINC's 800 lowest penalized logP: delta 0.4: 0.84 +/- 1.45, 83.6% success; delta 0.6: 0.21 +/- 0.71, 46.4%.

Measured with the defaults (anchored decoding, anchors 0.8 / 0.6 / 0.4; ``aae_moses``, all 200 molecules, budget
500, one thread of an Intel Xeon with AVX512-BF16 at load ~5):

=========================  =========================  =========================  =====================
objective (start values)   delta 0.4                  delta 0.6                  CPU-s per molecule
=========================  =========================  =========================  =====================
penalized logP (-5.14)     2.67 +/- 1.31, 95.0%       1.34 +/- 1.05, 81.5%       6.3 + 1.9
QED (0.38)                 0.19 +/- 0.13, 90.5%       0.09 +/- 0.10, 76.0%       6.1 + 1.7
=========================  =========================  =========================  =====================

Penalized logP over seeds, the 40 lowest (``--n-molecules 40 --seed S``): seed 0 / 1 / 2: 2.90 / 2.85 / 2.90 and
97.5 / 97.5 / 95.0% at 0.4; 1.42 / 1.37 / 1.35 and 82.5 / 80.0 / 80.0% at 0.6. Free decoding (``--anchors 0``)
on 20 of them: 60% / 28%; anchors 0.7 / 0.5 / 0: 100% / 75%. Anchored molecules keep the start's SMILES up to
the anchor, so they are edits of the string's end: the canonical atom order decides which part of the molecule
stays.

Earlier, free decoding (50 molecules, budget 500, CMA-ES popsize 16, sigma0 0.5, greedy decoding, same CPU shared
with other jobs). Penalized logP (starts -6.18 +/- 0.63), delta 0.4 / 0.6:

==============================  =====================  ======================  ==========
start code                      delta 0.4              delta 0.6               s/molecule
==============================  =====================  ======================  ==========
encoder's code                  1.19 +/- 2.00, 28%     0.10 +/- 0.49, 4%       1.2
fitted, 100 Adam steps          1.88 +/- 1.97, 54%     0.58 +/- 1.24, 24%      3.8
fitted, 300 steps (default)     1.88 +/- 1.86, 60%     0.59 +/- 1.16, 28%      6.1
gradient (100 steps, step 1.0)  1.94 +/- 2.02, 56%     0.54 +/- 1.14, 26%      2.5
==============================  =====================  ======================  ==========

QED (starts 0.33 +/- 0.03; 100 steps): 0.29 +/- 0.17, 86% at 0.4; 0.09 +/- 0.10, 58% at 0.6. Success equals the share
of molecules for which any decoded molecule reached delta at all: the decoder's reach near these atypical molecules
(sugars, nucleosides), not the search, bounded it; anchored decoding lifts that reach. Tried and dropped (20
molecules): sigma0 0.1 / 0.25 / 1.0, popsize 8 / 32, sampled decoding at T 0.5 / 1.0, syntax-constrained decoding
(all equal or worse);
``aae_moses_deterministic`` from the encoder's code reached 35% / 10%, against 25% / 0% for ``aae_moses``.

Usage::

    .venv/bin/python bench/bench_optimization.py --n-molecules 20 --threads 1
    .venv/bin/python bench/bench_optimization.py --n-molecules 20 --method gradient --objectives plogp
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from rdkit.Chem import QED

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aae_core.exceptions import TokenizerError  # noqa: E402
from aae_core.molecules import chem  # noqa: E402
from aae_core.molecules.generation import MoleculeGenerator  # noqa: E402
from aae_core.molecules.metrics import moses_smiles  # noqa: E402
from aae_core.molecules.optimization import (  # noqa: E402
    METHODS,
    Constraints,
    Objective,
    SearchConfig,
    optimize,
    penalized_logp,
    property_predictor,
)
from aae_core.registry import load_model  # noqa: E402

THRESHOLDS = (0.4, 0.6)
#: JT-VAE (Jin et al. 2018, Table 3), ZINC, 800 molecules: delta -> (mean improvement, std, success rate).
JTVAE = {0.4: (0.84, 1.45, 0.836), 0.6: (0.21, 0.71, 0.464)}
#: Targets of the issue: delta -> (success rate, mean improvement or None); and seconds per search.
TARGETS = {0.4: (0.80, 1.0), 0.6: (0.50, None)}
TARGET_SECONDS = 30.0
VALUE = {"plogp": penalized_logp, "qed": QED.qed}


def lowest(objective: str, generator: MoleculeGenerator, n: int, pool: int) -> list[tuple[str, float]]:
    """The ``n`` molecules among the first ``pool`` of the MOSES test split with the lowest ``objective`` that the
    model can encode, as (SMILES, value), lowest first."""
    scored = []
    for smiles in moses_smiles("test")[:pool]:
        mol = chem.mol_from_smiles(smiles)
        if mol is not None:
            scored.append((VALUE[objective](mol), smiles))
    chosen = []
    for value, smiles in sorted(scored):
        try:
            generator.encode([smiles])
        except TokenizerError:
            continue
        chosen.append((smiles, value))
        if len(chosen) == n:
            break
    return chosen


def run(objective: str, generator: MoleculeGenerator, starts: list[str], args: argparse.Namespace) -> dict:
    """One search per (molecule, threshold); returns per threshold the improvements, similarities and times."""
    predictor = property_predictor(generator, Objective.parse(objective)) if args.method == "gradient" else None
    config = SearchConfig(args.method, args.budget, args.popsize, args.sigma0, args.step, seed=args.seed,
                          refine_steps=args.refine_steps, greedy=args.temperature is None,
                          temperature=args.temperature or 1.0, anchors=tuple(args.anchors))
    rows = {delta: [] for delta in THRESHOLDS}
    for done, smiles in enumerate(starts, 1):  # molecules outer, so that a stopped run has figures for every delta
        start_code = None  # fitted by the first search of the molecule, reused by the next
        for delta in THRESHOLDS:
            cpu = time.process_time()
            result = optimize(generator, smiles, objective, Constraints(min_similarity=delta), config, predictor,
                              start_code=start_code)
            start_code = result.start_code
            improvement = result.improvement(delta)
            best_sim = float(result.found["similarity"].iloc[0]) if improvement > 0 else np.nan
            rows[delta].append((improvement, best_sim, result.history[-1]["closest"], result.wall_s,
                                time.process_time() - cpu))
        if args.report_every and done % args.report_every == 0 and done < len(starts):
            print(f"-- {done} of {len(starts)} molecules done", flush=True)
            for delta in THRESHOLDS:
                report(objective, delta, np.array(rows[delta]))
    results = {delta: np.array(rows[delta]) for delta in THRESHOLDS}
    for delta in THRESHOLDS:
        report(objective, delta, results[delta])
    return results


def report(objective: str, delta: float, rows: np.ndarray) -> None:
    improvement, similarity, closest, wall, cpu = rows.T
    success = improvement > 0
    similarity = similarity[success].mean() if success.any() else float("nan")
    line = (f"{objective:6s} delta {delta:.1f}: improvement {improvement.mean():.2f} +/- {improvement.std():.2f}, "
            f"success {success.mean():.1%} (some decoded molecule reached delta: {(closest >= delta).mean():.1%}), "
            f"similarity of successes {similarity:.2f}, {wall.mean():.1f} s per molecule (max {wall.max():.1f}; "
            f"{cpu.mean():.1f} CPU-s)")
    if objective == "plogp":
        mean, std, rate = JTVAE[delta]
        rate_target, mean_target = TARGETS[delta]
        line += f"  [JT-VAE {mean:.2f} +/- {std:.2f}, {rate:.1%}; target success >= {rate_target:.0%}"
        line += f", improvement >= {mean_target}]" if mean_target else "]"
    print(line, flush=True)


def cpu() -> str:
    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        name = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                     if line.startswith("model name")), name)
    return f"{name}, AVX512-BF16: {torch.cpu._is_avx512_bf16_supported()}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "checkpoints" / "aae_moses.safetensors"))
    parser.add_argument("--n-molecules", type=int, default=200)
    parser.add_argument("--budget", type=int, default=500, help="decoded molecules per search")
    parser.add_argument("--method", choices=METHODS, default="cmaes")
    parser.add_argument("--objectives", nargs="+", choices=sorted(VALUE), default=["plogp", "qed"])
    parser.add_argument("--popsize", type=int, default=SearchConfig.popsize)
    parser.add_argument("--sigma0", type=float, default=SearchConfig.sigma0)
    parser.add_argument("--step", type=float, default=SearchConfig.step, help="gradient step length")
    parser.add_argument("--refine-steps", type=int, default=SearchConfig.refine_steps,
                        help="Adam steps fitting the start code to the decoder (0: the encoder's code)")
    parser.add_argument("--temperature", type=float, default=None, help="sample tokens at this temperature "
                        "instead of greedy decoding")
    parser.add_argument("--anchors", type=float, nargs="+", default=list(SearchConfig.anchors),
                        help="anchored decoding: one search per share of the start's tokens kept as prefix")
    parser.add_argument("--constrained", action="store_true", help="syntax-constrained decoding (SmilesGrammar)")
    parser.add_argument("--pool", type=int, default=None, help="rank only the first POOL test molecules")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report-every", type=int, default=10, help="print the running figures every N molecules "
                        "(0: only at the end)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    generator = MoleculeGenerator(load_model(args.model), constrained=args.constrained)
    decoding = f"sampled at T={args.temperature}" if args.temperature else "greedy"
    decoding += " constrained" if args.constrained else ""
    print(f"{Path(args.model).name}, {args.method}, budget {args.budget}, popsize {args.popsize}, sigma0 {args.sigma0}"
          f", {args.refine_steps} refine steps, {decoding} decoding, anchors {args.anchors}; CPU: {cpu()}, "
          f"{args.threads} thread(s)",
          flush=True)
    for objective in args.objectives:
        began = time.perf_counter()
        chosen = lowest(objective, generator, args.n_molecules, args.pool or 10**9)
        values = np.array([v for _, v in chosen])
        print(f"{objective}: {len(chosen)} start molecules, {objective} {values.mean():.2f} +/- {values.std():.2f} "
              f"(chosen in {time.perf_counter() - began:.0f} s)", flush=True)
        run(objective, generator, [s for s, _ in chosen], args)


if __name__ == "__main__":
    main()
