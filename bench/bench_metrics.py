"""Benchmark of the generation metrics (aae_core.molecules.metrics): first use (cold cache) and later use.

Each scenario runs in a child process with its own empty ``$AAE_LAB_CACHE`` ("cold") and is measured from
outside: wall time, CPU time (user + system, the worker processes included), peak resident memory of the
largest process (what ``/usr/bin/time -v`` reports) and of the whole process tree (sampled every 0.2 s):

``cli-evaluate``  ``aae-lab evaluate -n 10000`` on the shipped AAE (target: <= 3 min, <= 2 GB);
``cli-samples``   ``aae-lab evaluate --samples FILE`` of 30,000 SMILES (random MOSES train molecules, seed 0;
                  target: <= 3 min);
``app``           the core calls of the app's "Compute metrics" (``dashboard/services.py``: 1,000 samples per
                  run, seed 0, against the first 2,000 MOSES test molecules): a first run (it builds the
                  reference), then the three runs timed (target: <= 20 s for the three);
``full-build``    the reference statistics of the MOSES test split computed from scratch (``shipped=False``),
                  as for a user's own reference file, or after an RDKit upgrade;
``library``       in-process: reference from the shipped statistics, cold and cached, then ``evaluate`` of
                  ``-n`` held-out MOSES train molecules with the metric values next to the published MOSES rows.

Usage::

    .venv/bin/python bench/bench_metrics.py                                  # cli-evaluate, cli-samples, app
    .venv/bin/python bench/bench_metrics.py --scenario app --jobs 1         # as the app calls it today
    .venv/bin/python bench/bench_metrics.py --scenario library -n 30000

On a shared machine the CPU figure is the stable one; the load average at the end is printed with it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

APP_RUNS = ("aae_moses", "aae_small_moses", "vae_small_moses")
SCENARIOS = ("cli-evaluate", "cli-samples", "app", "full-build", "library")


# -- measuring a child process ---------------------------------------------------------------------
def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack += children.get(p, [])
    return total / 1e6


def measure(label: str, argv: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``argv``; return wall (s), cpu (s, children included), peak_mb (largest process), tree_mb."""
    print(f"[{label}] {' '.join(argv)}", flush=True)
    wall = time.perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=ROOT)
    peak_tree, done = 0.0, threading.Event()

    def poll() -> None:
        nonlocal peak_tree
        while not done.wait(0.2):
            peak_tree = max(peak_tree, _tree_rss_mb(process.pid))

    sampler = threading.Thread(target=poll, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)  # this child's usage, its reaped workers included
    code = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    figures = {"wall": time.perf_counter() - wall, "cpu": usage.ru_utime + usage.ru_stime,
               "peak_mb": usage.ru_maxrss / 1024, "tree_mb": peak_tree}
    if code:
        raise SystemExit(f"[{label}] exited with {code}")
    print(f"[{label}] wall {figures['wall']:.1f} s, CPU {figures['cpu']:.1f} s, peak RSS {figures['peak_mb']:.0f} MB "
          f"(largest process; whole tree {figures['tree_mb']:.0f} MB)", flush=True)
    return figures


# -- scenarios -------------------------------------------------------------------------------------
def _cold_env(folder: Path, threads: int | None) -> dict[str, str]:
    cache = Path(tempfile.mkdtemp(prefix="cache-", dir=folder))
    env = {**os.environ, "AAE_LAB_CACHE": str(cache)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def _cli(threads: int | None) -> list[str]:
    return [sys.executable, "-m", "aae_core.cli", *(["--threads", str(threads)] if threads else [])]


def cli_evaluate(args, folder: Path) -> dict[str, float]:
    out = folder / "evaluate.json"
    return measure("cli-evaluate", [*_cli(args.threads), "evaluate", "-n", str(args.n_model), "--out", str(out)],
                   _cold_env(folder, args.threads))


def cli_samples(args, folder: Path) -> dict[str, float]:
    import numpy as np

    from aae_core.molecules.metrics import moses_smiles

    train = moses_smiles("train")
    picked = np.random.default_rng(0).choice(len(train), args.n_file, replace=False)
    samples = folder / "samples.smi"
    samples.write_text("\n".join(train[i] for i in picked) + "\n")
    return measure("cli-samples", [*_cli(args.threads), "evaluate", "--samples", str(samples)],
                   _cold_env(folder, args.threads))


def app(args, folder: Path) -> dict[str, float]:
    code = f"""
import sys, time, warnings
sys.path.insert(0, {str(ROOT)!r})
import torch
torch.set_num_threads({args.threads or 1})  # dashboard/app.py: AAE_LAB_THREADS, default 1
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.molecules.metrics import MetricWarning, evaluate, load_reference, moses_smiles
from aae_core.registry import load_model

def run(name):
    loaded = load_model({str(ROOT / "checkpoints")!r} + f"/{{name}}.safetensors")
    t = time.perf_counter()
    samples = MoleculeGenerator(loaded).sample(1000, seed=0, workers={os.cpu_count() or 1})
    t_sample = time.perf_counter() - t
    reference = load_reference(moses_smiles("test")[:2000], name="MOSES test (2,000)", n_jobs={args.jobs})
    evaluate(samples, reference, k=(1000,), n_jobs={args.jobs})
    print(f"  {{name}}: sampling {{t_sample:.1f}} s, metrics {{time.perf_counter() - t - t_sample:.1f}} s", flush=True)

if __name__ == "__main__":
    warnings.simplefilter("ignore", MetricWarning)
    t = time.perf_counter()
    run({APP_RUNS[0]!r})
    print(f"  first run (reference and training set prepared): {{time.perf_counter() - t:.1f}} s", flush=True)
    t = time.perf_counter()
    for name in {list(APP_RUNS)!r}:
        run(name)
    print(f"  three runs after the first: {{time.perf_counter() - t:.1f}} s wall", flush=True)
"""
    script = folder / "app_calls.py"
    script.write_text(code)
    return measure("app", [sys.executable, str(script)], _cold_env(folder, args.threads))


def full_build(args, folder: Path) -> dict[str, float]:
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from aae_core.molecules.metrics import ProgressBar, load_reference\n"
            "if __name__ == '__main__':\n"
            f"    with ProgressBar() as bar: load_reference(shipped=False, n_jobs={args.jobs}, progress=bar)\n")
    script = folder / "full_build.py"
    script.write_text(code)
    return measure("full-build", [sys.executable, str(script)], _cold_env(folder, args.threads))


def library(args, folder: Path) -> dict[str, float]:
    """In process: the shipped reference cold and cached, then evaluate held-out MOSES train molecules."""
    import numpy as np

    from aae_core.molecules.metrics import (
        MOSES_PAPER,
        ProgressBar,
        canonical_training_set,
        evaluate,
        format_table,
        load_reference,
        moses_smiles,
        to_frame,
    )

    os.environ["AAE_LAB_CACHE"] = _cold_env(folder, None)["AAE_LAB_CACHE"]
    train = moses_smiles("train")
    picked = np.random.default_rng(0).choice(len(train), args.n_file, replace=False)
    generated = [train[i] for i in picked]
    held_out = np.zeros(len(train), dtype=bool)
    held_out[picked] = True
    rest = [s for s, h in zip(train, held_out, strict=True) if not h]
    figures = {}
    with ProgressBar() as bar:
        for label, call in (("reference, first use", lambda: load_reference(n_jobs=args.jobs, progress=bar)),
                            ("reference, cached", lambda: load_reference()),
                            ("training set", lambda: canonical_training_set(rest, n_jobs=args.jobs, progress=bar)),
                            (f"evaluate {len(generated)}", lambda: evaluate(generated, None, rest, args.jobs,
                                                                             progress=bar))):
            wall, cpu = time.perf_counter(), time.process_time()
            result = call()
            figures[label] = time.perf_counter() - wall
            print(f"[{label}] wall {figures[label]:.1f} s, CPU of this process {time.process_time() - cpu:.1f} s",
                  flush=True)
    print(format_table(result))
    print(to_frame({"held-out train": result, **MOSES_PAPER}).T.to_string(float_format=lambda v: f"{v:.4f}"))
    return {"wall": sum(figures.values()), "cpu": float("nan"), "peak_mb": float("nan"), "tree_mb": float("nan")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=SCENARIOS, action="append", help="repeatable (default: the first 3)")
    parser.add_argument("--n-model", type=int, default=10_000, help="cli-evaluate: samples drawn (default 10000)")
    parser.add_argument("-n", "--n-file", type=int, default=30_000, help="cli-samples / library: SMILES (30000)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--jobs", type=int, default=-1, help="app / library / full-build worker processes")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="aae-lab-bench-"))
    results = {}
    try:
        for name in args.scenario or SCENARIOS[:3]:
            results[name] = globals()[name.replace("-", "_")](args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"AVX512-BF16: {'avx512_bf16' in Path('/proc/cpuinfo').read_text()}")
    print(f"{'scenario':<14} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} {'tree MB':>8}")
    for name, f in results.items():
        print(f"{name:<14} {f['wall']:8.1f} {f['cpu']:8.1f} {f['peak_mb']:8.0f} {f['tree_mb']:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
