"""Make the shipped MOSES cut in ``assets/moses/`` from the ``molsets`` 0.3.1 wheel.

Source: Polykovskiy et al. 2020, "Molecular Sets (MOSES)", Front. Pharmacol. 11:565644, MIT licence.
The wheel carries the data; its code is not used (it no longer runs on current libraries).

Usage::

    pip download --no-deps molsets==0.3.1 -d /tmp/molsets
    python assets/make_moses_cut.py /tmp/molsets/molsets-0.3.1-py3-none-any.whl

Writes ``train.csv.gz`` (250,000 SMILES drawn without replacement from the MOSES train split with
``numpy.random.default_rng(0)``, kept in file order), ``test.csv.gz`` (the whole MOSES test split),
``test_scaffolds.csv.gz`` (the whole scaffold test split) and the two filter SMARTS lists used by the
MOSES ``Filters`` metric (``mcf.csv``, ``wehi_pains.csv``).
"""

from __future__ import annotations

import argparse
import gzip
import io
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

TRAIN_SIZE = 250_000
SEED = 0
HERE = Path(__file__).resolve().parent / "moses"
MEMBERS = {
    "train": "moses/dataset/data/train.csv.gz",
    "test": "moses/dataset/data/test.csv.gz",
    "test_scaffolds": "moses/dataset/data/test_scaffolds.csv.gz",
    "mcf": "moses/metrics/mcf.csv",
    "wehi_pains": "moses/metrics/wehi_pains.csv",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="path to molsets-0.3.1-py3-none-any.whl")
    args = parser.parse_args(argv)
    HERE.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(args.wheel) as wheel:
        train = pd.read_csv(io.BytesIO(wheel.read(MEMBERS["train"])), compression="gzip")
        rows = np.sort(np.random.default_rng(SEED).choice(len(train), TRAIN_SIZE, replace=False))
        _write_csv_gz(train.iloc[rows], HERE / "train.csv.gz")
        for name in ("test", "test_scaffolds"):
            (HERE / f"{name}.csv.gz").write_bytes(wheel.read(MEMBERS[name]))
        for name in ("mcf", "wehi_pains"):
            with wheel.open(MEMBERS[name]) as src, open(HERE / f"{name}.csv", "wb") as dst:
                shutil.copyfileobj(src, dst)
    print(f"train: {TRAIN_SIZE} of {len(train)} SMILES -> {HERE / 'train.csv.gz'}")
    return 0


def _write_csv_gz(frame: pd.DataFrame, path: Path) -> None:
    # mtime=0 makes the gzip bytes reproducible.
    with gzip.GzipFile(path, "wb", mtime=0) as handle:
        handle.write(frame.to_csv(index=False).encode())


if __name__ == "__main__":
    sys.exit(main())
