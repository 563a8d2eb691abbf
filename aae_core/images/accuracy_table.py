"""The semi-supervised accuracy table written by bench/bench_images.py and shown on the Digits Accuracy page: one
row per (dataset, method, labels, seed), summarised over seeds as mean, standard deviation and each seed's figure."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from aae_core.exceptions import DataError

KEY = ["dataset", "method", "labels", "seed"]
COLUMNS = [*KEY, "accuracy", "wall_s", "cpu_s"]


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    """``seed`` as a nullable integer (empty for methods without one, such as logistic regression)."""
    return table.assign(seed=table["seed"].astype("Int64"), labels=table["labels"].astype(int))


def read_accuracy_table(path: str | Path) -> pd.DataFrame:
    """The table at ``path`` with :data:`COLUMNS`. In a table from before seeds were recorded, the trained rows
    (those with a ``cpu_s``) count as seed 0.

    Raises
    ------
    DataError
        If the file cannot be read as CSV, lacks a column (the message names them) or has a label count or seed
        that is not a whole number.
    """
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read the accuracy table {path}: {err}") from err
    if "seed" not in table and "cpu_s" in table:  # trained rows were seed 0; logistic regression has no seed
        table["seed"] = table["cpu_s"].notna().map({True: 0, False: None})
    missing = [column for column in COLUMNS if column not in table]
    if missing:
        raise DataError(f"the accuracy table {path} lacks the columns {missing}; rerun bench/bench_images.py")
    try:
        return _typed(table[COLUMNS])
    except (TypeError, ValueError) as err:
        raise DataError(f"the accuracy table {path} has a non-numeric labels or seed value: {err}") from err


def merge_rows(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``old`` with its rows replaced by the rows of ``new`` that have the same (dataset, method, labels, seed),
    plus the rest of ``new``; sorted by that key."""
    old, new = _typed(old), _typed(new)
    replaced = old.merge(new[KEY], on=KEY, how="left", indicator=True)["_merge"].eq("both").to_numpy()
    merged = pd.concat([old[~replaced], new], ignore_index=True)
    return merged.sort_values(KEY, ignore_index=True)


def write_rows(rows: Iterable[dict], path: str | Path) -> pd.DataFrame:
    """Merge ``rows`` (dicts with :data:`COLUMNS`) into the table at ``path`` (see :func:`merge_rows`; a missing file
    starts empty) and write it atomically (a temporary file, then ``os.replace``). Returns the written table."""
    path = Path(path)
    new = pd.DataFrame(list(rows), columns=COLUMNS)
    table = merge_rows(read_accuracy_table(path) if path.is_file() else new.iloc[:0], new)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return table


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, method, labels) of ``table`` (as :func:`read_accuracy_table` returns it): ``accuracy``
    (mean over seeds), ``std`` (sample standard deviation, NaN for one seed), ``seeds`` (count), ``per_seed`` (each
    seed's accuracy in %, in seed order) and mean ``cpu_s``."""
    table = table.sort_values(KEY)
    groups = table.groupby(["dataset", "method", "labels"], sort=True)
    out = groups.agg(accuracy=("accuracy", "mean"), std=("accuracy", "std"), seeds=("accuracy", "size"),
                     cpu_s=("cpu_s", "mean"))
    out["per_seed"] = groups["accuracy"].agg(lambda values: " / ".join(f"{100 * v:.1f}" for v in values))
    return out.reset_index()
