"""Make the shipped reference statistics of the metrics (``assets/moses/*_stats.npz``, ``train_canonical.npz``).

For the MOSES ``test`` and ``test_scaffolds`` splits shipped in ``assets/moses``, computes every statistic the
metrics need (ChemNet mean and covariance for FCD, property distributions, BRICS fragment and scaffold counts,
GuacaMol KL descriptors) with :func:`aae_core.molecules.metrics.reference.write_shipped_statistics`, on the CPU (ChemNet
on a GPU gives slightly different activations), and writes them without the Morgan fingerprints (computed on
first use). For the train cut it writes the canonical SMILES that differ from the shipped ones (Novelty).
Each file records the RDKit, fcd, numpy and torch versions, the SHA-256 of its source file and this command.

Usage (from the repository root; about 15 CPU-minutes per test split, spread over ``--jobs`` processes)::

    .venv/bin/python assets/make_reference_stats.py                    # all three files
    .venv/bin/python assets/make_reference_stats.py --only train       # one of: test, test_scaffolds, train
    .venv/bin/python assets/make_reference_stats.py --out /tmp/stats   # elsewhere, e.g. to compare

Then update the table in ``assets/README.md`` (the script prints the sizes and versions).
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

FILES = {"test": "test_stats.npz", "test_scaffolds": "test_scaffolds_stats.npz", "train": "train_canonical.npz"}


def _provenance(split: str, threads: int) -> dict:
    import numpy
    import torch

    from aae_core import __version__

    source = ROOT / "assets" / "moses" / f"{split}.csv.gz"
    return {"source": f"assets/moses/{source.name}", "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
            "command": "python assets/make_reference_stats.py " + shlex.join(sys.argv[1:]),
            "aae_lab": __version__, "numpy": numpy.__version__, "torch": torch.__version__,
            "python": platform.python_version(), "chemnet_device": "cpu", "torch_threads": threads}


def make(split: str, out: Path, jobs: int, threads: int) -> None:
    """Write the shipped file of ``split`` to ``out`` and print its size and timings."""
    from aae_core.molecules.metrics import ProgressBar, moses_smiles
    from aae_core.molecules.metrics.reference import versions, write_shipped_canonical, write_shipped_statistics

    path = out / FILES[split]
    smiles = moses_smiles(split)
    wall, cpu = time.perf_counter(), time.process_time()
    with ProgressBar() as bar:
        if split == "train":
            write_shipped_canonical(smiles, path, n_jobs=jobs, progress=bar, provenance=_provenance(split, threads))
        else:
            name = f"MOSES {split.replace('_', ' ')}"
            write_shipped_statistics(smiles, path, name, n_jobs=jobs, device="cpu", progress=bar,
                                     provenance=_provenance(split, threads))
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB, {len(smiles):,} SMILES, wall "
          f"{time.perf_counter() - wall:.0f} s, CPU of this process {time.process_time() - cpu:.0f} s "
          f"(workers not counted), versions {versions()}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(FILES), action="append", help="make only these (repeatable)")
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "moses", help="folder (default assets/moses)")
    parser.add_argument("--jobs", type=int, default=-1, help="worker processes for RDKit (default: one per CPU)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for ChemNet, which runs while the workers use the cores (default 1)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    for split in args.only or list(FILES):
        make(split, args.out, args.jobs, torch.get_num_threads())
    return 0


if __name__ == "__main__":
    sys.exit(main())
