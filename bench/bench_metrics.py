"""Benchmark of the generation metrics (aae_core.metrics) on the shipped MOSES data.

Times, on the CPU threads given (default 1):

1. the reference statistics of the MOSES test split (176,074 molecules), cold (empty cache) and cached;
2. the canonical training set for Novelty, cold and cached;
3. ``evaluate`` of N "generated" molecules (default 30,000, the MOSES protocol): a stand-in drawn at
   random (seed 0) from the shipped MOSES train cut and held out of the Novelty training set (so Novelty should be 1,
   and the other metrics close to the MOSES "Train" row: SNN/Test 0.64, Frag/Test 1.0, IntDiv 0.857).

Usage::

    .venv/bin/python bench/bench_metrics.py                      # full run: about 25 minutes on 1 core
    .venv/bin/python bench/bench_metrics.py -n 2000 --reference-limit 5000   # quick check

The cache goes to a fresh temporary directory (removed at the end) unless ``--cache-dir`` is given; with
an existing cache directory the "cold" figure is only cold if that directory has no entry yet.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from aae_core.metrics import (  # noqa: E402
    MOSES_PAPER,
    MetricWarning,
    canonical_training_set,
    evaluate,
    format_table,
    load_reference,
    moses_smiles,
    to_frame,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--n-generated", type=int, default=30_000, help="molecules to evaluate")
    parser.add_argument("--reference-limit", type=int, default=None, help="use only the first M test SMILES")
    parser.add_argument("--cache-dir", type=Path, default=None, help="metrics cache (default: a temp dir)")
    parser.add_argument("--threads", type=int, default=1, help="torch / BLAS threads (default 1)")
    parser.add_argument("--n-jobs", type=int, default=1, help="worker processes for RDKit work")
    parser.add_argument("--device", default="cpu", help="torch device for ChemNet (default cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random held-out sample")
    parser.add_argument("--quiet", action="store_true", help="no per-stage log lines")
    args = parser.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="  %(message)s")
    warnings.simplefilter("ignore", MetricWarning)

    temporary = args.cache_dir is None
    cache = Path(tempfile.mkdtemp(prefix="aae-lab-bench-")) if temporary else args.cache_dir
    os.environ["AAE_LAB_CACHE"] = str(cache)
    figures: dict[str, tuple[float, float]] = {}

    def timed(label: str, func):
        # Wall-clock and CPU time of this process: on a shared machine the CPU figure is the stable one.
        print(f"[{label}]", flush=True)
        wall, cpu = time.perf_counter(), time.process_time()
        result = func()
        figures[label] = (time.perf_counter() - wall, time.process_time() - cpu)
        print(f"[{label}] wall {figures[label][0]:.1f} s, CPU {figures[label][1]:.1f} s", flush=True)
        return result

    try:
        test = timed("read test and train SMILES", lambda: moses_smiles("test"))
        train = moses_smiles("train")
        if args.n_generated >= len(train):
            parser.error(f"--n-generated must be below {len(train)}")
        # The MOSES files are not shuffled (a head or tail slice is a biased sample): draw at random.
        rng = np.random.default_rng(args.seed)
        if args.reference_limit:
            test = [test[i] for i in np.sort(rng.choice(len(test), args.reference_limit, replace=False))]
        picked = rng.choice(len(train), args.n_generated, replace=False)  # in random ("generation") order
        generated = [train[i] for i in picked]
        held_out = np.zeros(len(train), dtype=bool)
        held_out[picked] = True
        train_rest = [s for s, h in zip(train, held_out, strict=True) if not h]
        print(
            f"reference: {len(test)} MOSES test SMILES; generated: {len(generated)} held-out MOSES train "
            f"SMILES; Novelty training set: the other {len(train_rest)}; threads: {args.threads}; "
            f"n_jobs: {args.n_jobs}; device: {args.device}; cache: {cache}",
            flush=True,
        )

        reference = timed(
            "reference statistics, cold",
            lambda: load_reference(test, n_jobs=args.n_jobs, device=args.device),
        )
        if reference.from_cache:
            print("  (the cache already held this reference set: not a cold figure)")
        cached = timed("reference statistics, cached", lambda: load_reference(test))
        assert cached.from_cache, "second load_reference did not come from the cache"
        timed(
            "training set canonicalisation, cold",
            lambda: canonical_training_set(train_rest, n_jobs=args.n_jobs),
        )
        timed("training set canonicalisation, cached", lambda: canonical_training_set(train_rest))
        metrics = timed(
            f"evaluate {len(generated)} molecules",
            lambda: evaluate(generated, cached, train=train_rest, n_jobs=args.n_jobs, device=args.device),
        )
    finally:
        if temporary:
            shutil.rmtree(cache, ignore_errors=True)

    print(f"\nTimings (s; load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    width = max(map(len, figures))
    print(f"  {'':<{width}}  {'wall':>8}  {'CPU':>8}")
    for label, (wall, cpu) in figures.items():
        print(f"  {label:<{width}}  {wall:8.1f}  {cpu:8.1f}")
    print("\nMetrics of the held-out train molecules against the test split")
    print(format_table(metrics))
    print("\nNext to the published MOSES rows")
    print(to_frame({"held-out train": metrics, **MOSES_PAPER}).T.to_string(float_format=lambda v: f"{v:.4f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
