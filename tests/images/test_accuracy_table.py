"""The semi-supervised accuracy table: rows merged by (dataset, method, labels, seed), written atomically, read
back with clear errors, summarised over seeds."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from aae_core.exceptions import DataError
from aae_core.images.accuracy_table import read_accuracy_table, summarise, write_rows

AAE = "semi-supervised AAE"


def row(seed: int | None, accuracy: float, dataset: str = "digits", method: str = AAE, labels: int = 100) -> dict:
    return {"dataset": dataset, "method": method, "labels": labels, "seed": seed, "accuracy": accuracy,
            "wall_s": None if seed is None else 10.0, "cpu_s": None if seed is None else 9.0}


def test_rows_of_other_seeds_and_datasets_survive_a_later_run(tmp_path):
    path = tmp_path / "acc.csv"
    write_rows([row(None, 0.89, method="logistic regression"), row(0, 0.95), row(1, 0.93),
                row(0, 0.96, dataset="mnist-8k")], path)
    table = write_rows([row(1, 0.94), row(2, 0.97), row(None, 0.90, method="logistic regression")], path)
    assert len(table) == 5 and [p.name for p in tmp_path.iterdir()] == ["acc.csv"]
    digits = read_accuracy_table(path).query("dataset == 'digits' and method == @AAE")
    assert digits.set_index("seed")["accuracy"].to_dict() == {0: 0.95, 1: 0.94, 2: 0.97}
    assert read_accuracy_table(path).query("method == 'logistic regression'")["accuracy"].tolist() == [0.90]


def test_summary_gives_mean_spread_and_each_seed(tmp_path):
    path = tmp_path / "acc.csv"
    write_rows([row(2, 0.97), row(0, 0.95), row(1, 0.93), row(None, 0.89, method="logistic regression")], path)
    summary = summarise(read_accuracy_table(path)).set_index("method")
    assert summary.loc[AAE, "accuracy"] == pytest.approx(0.95)
    assert summary.loc[AAE, "std"] == pytest.approx(0.02)
    assert summary.loc[AAE, "seeds"] == 3 and summary.loc[AAE, "per_seed"] == "95.0 / 93.0 / 97.0"
    assert summary.loc["logistic regression", "seeds"] == 1 and math.isnan(summary.loc["logistic regression", "std"])


def test_a_table_from_before_seeds_counts_its_trained_rows_as_seed_0(tmp_path):
    path = tmp_path / "old.csv"
    old = [row(0, 0.95), row(None, 0.89, method="logistic regression")]
    pd.DataFrame(old).drop(columns="seed").to_csv(path, index=False)
    assert read_accuracy_table(path)["seed"].tolist() == [0, pd.NA]
    table = write_rows([row(1, 0.93), row(None, 0.89, method="logistic regression")], path)
    assert len(table) == 3 and table["seed"].isna().sum() == 1


@pytest.mark.parametrize("text, message", [("dataset,method\ndigits,x\n", "lacks the columns"),
                                           ("", "cannot read the accuracy table"),
                                           ("dataset,method,labels,seed,accuracy,wall_s,cpu_s\ndigits,x,many,0,0.9,,\n",
                                            "non-numeric labels or seed")])
def test_foreign_tables_are_refused_clearly(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_accuracy_table(path)
