"""Tests of the dashboard's plain helpers (no Streamlit session needed) and of the training worker."""

from __future__ import annotations

import base64
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from aae_core.exceptions import DataError
from dashboard import inputs, services
from dashboard.jobs import TrainingJob
from tests.dashboard.conftest import tiny_configs


def test_smooth_is_a_debiased_ema():
    values = np.array([4.0, 2.0, 6.0])
    np.testing.assert_allclose(services.smooth(values, 0.0), values)
    np.testing.assert_allclose(services.smooth(np.full(5, 3.0), 0.9), 3.0)  # no pull towards 0 at the start
    s1 = 0.5 * 4.0
    s2 = 0.5 * s1 + 0.5 * 2.0
    np.testing.assert_allclose(services.smooth(values, 0.5)[:2], [s1 / 0.5, s2 / 0.75])


def test_loss_table_is_long_with_fractional_epochs_and_smoothing():
    history = {"steps": [{"step": 2, "epoch": 0, "batch": 2, "batches": 4, "time_s": 1.0, "reconstruction": 3.0,
                          "discriminator": 0.7},
                         {"step": 4, "epoch": 1, "batch": 0, "batches": 4, "time_s": 2.0, "reconstruction": 1.0,
                          "discriminator": 0.6, "kl": 5.0}]}
    table = services.loss_table({"run": history}, weight=0.5)
    assert list(table.columns) == ["run", "step", "epoch", "time_s", "term", "value", "smoothed"]
    assert sorted(set(table["term"])) == ["discriminator", "kl", "reconstruction"]
    recon = table[table["term"] == "reconstruction"]
    assert recon["epoch"].tolist() == [0.5, 1.0]
    assert recon["smoothed"].iloc[1] == pytest.approx((0.25 * 3 + 0.5 * 1) / 0.75)
    assert services.loss_table({"empty": {"steps": []}}).empty


def test_describe_and_batch_stats():
    frame = services.describe(["CCO", "CCO", "not a smiles", "c1ccccc1"], known=frozenset({"CCO"}))
    assert frame["valid"].tolist() == [True, True, False, True]
    assert frame["unique"].tolist() == [True, False, True, True]
    assert frame["novel"].tolist() == [False, False, False, True]
    assert "QED" not in frame  # properties are computed lazily, for the rows that need them
    stats = services.batch_stats(frame)
    assert stats == {"validity": 0.75, "uniqueness": pytest.approx(2 / 3), "novelty": 0.5}


def test_with_properties_adds_every_property_and_nan_for_invalid():
    frame = services.with_properties(pd.DataFrame({"smiles": ["not a smiles", "c1ccccc1"], "QED": [9.0, 9.0]},
                                                  index=[5, 7]))
    assert list(frame.columns) == ["smiles", *services.PROPERTY_COLUMNS]
    assert frame.loc[5, list(services.PROPERTY_COLUMNS)].isna().all()
    assert frame.loc[7, "MW"] == pytest.approx(78.11, abs=0.01) and frame.loc[7, "QED"] < 1
    assert frame.loc[7, "lipinski"] == 0


def test_filters_ranges_lipinski_and_smarts():
    frame = services.describe(["CCO", "c1ccccc1O", "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC(=O)O", "xx"], frozenset())
    everything = services.Filters(ranges=dict(services.PROPERTY_RANGES), valid_only=False, unique_only=False)
    unfiltered = services.apply_filters(frame, everything)
    assert len(unfiltered) == 4 and "QED" not in unfiltered  # sliders at their ends: no limits, no properties
    heavy = services.Filters(ranges={"MW": (100.0, 800.0)})
    assert services.apply_filters(frame, heavy)["smiles"].tolist() == [frame.loc[2, "smiles"]]
    phenol = services.apply_filters(frame, services.Filters(ranges={}, smarts="c1ccccc1[OH]"))
    assert phenol["smiles"].tolist() == ["c1ccccc1O"]
    with pytest.raises(ValueError, match="SMARTS"):
        services.apply_filters(frame, services.Filters(ranges={}, smarts="[C"))


def test_lipinski_filter_keeps_at_most_one_violation():
    smiles = ["CCO", "C" * 30, "C" * 40]  # 0 violations; logP > 5; logP > 5 and MW > 500
    kept = services.apply_filters(services.describe(smiles, frozenset()), services.Filters(ranges={}, lipinski=True))
    assert kept["smiles"].tolist() == smiles[:2] and kept["lipinski"].tolist() == [0, 1]


def test_sdf_and_csv_exports_round_trip():
    frame = services.with_drawings(pd.DataFrame({"smiles": ["CCO", "bad", "c1ccccc1"], "QED": [0.4, None, 0.5]}))
    supplier = Chem.SDMolSupplier()
    supplier.SetData(services.to_sdf(frame))
    molecules = [m for m in supplier if m is not None]
    assert [Chem.MolToSmiles(m) for m in molecules] == ["CCO", "c1ccccc1"]
    assert molecules[0].GetProp("QED") == "0.4" and molecules[0].GetProp("_Name") == "CCO"
    csv = services.to_csv(frame).decode()
    assert csv.splitlines()[0] == "smiles,QED" and "data:image" not in csv


def test_drawings_are_svg_data_uris_with_a_box_for_invalid_smiles():
    uri = services.drawing("not a smiles")
    assert uri.startswith("data:image/svg+xml;base64,")
    assert "invalid SMILES" in base64.b64decode(uri.split(",", 1)[1]).decode()
    path = services.aligned_drawings(["c1ccccc1CCN", "c1ccccc1CCO", "xx", "C1CCCCC1CO"])
    assert len(path) == 4 and all(u.startswith("data:image/svg+xml;base64,") for u in path)
    assert "invalid SMILES" in base64.b64decode(path[2].split(",", 1)[1]).decode()


def test_selected_rows_reads_customdata_of_molecule_points():
    points = pd.DataFrame({"x": [0, 1, 2], "y": [0, 1, 2], "kind": ["training", "training", "generated"],
                           "smiles": ["CCO", "CCN", "CCC"]}, index=[0, 1, 5])  # labels of the full table
    event = SimpleNamespace(selection=SimpleNamespace(points=[{"customdata": 5}, {"customdata": [0]}, {"x": 2}]))
    assert services.selected_rows(event, points)["smiles"].tolist() == ["CCO", "CCC"]
    assert services.selected_rows(None, points).empty


def test_read_upload_rejects_empty_and_oversized_files(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="empty"):
        services.read_upload.__wrapped__("a.smi", b"", "", str(tmp_path))
    monkeypatch.setattr(inputs, "MOLECULE_MAX_BYTES", 10)
    with pytest.raises(DataError, match="limit"):
        services.read_upload.__wrapped__("a.smi", b"CCO\n" * 10, "", str(tmp_path))


def test_training_job_runs_in_a_thread_and_can_be_cancelled(tmp_path):
    model_cfg, train_cfg = tiny_configs(max_molecules=200, epochs=50)
    job = TrainingJob("t", tmp_path / "t.safetensors", model_cfg, train_cfg).start()
    deadline = time.monotonic() + 60
    while not job.steps and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job.status == "training" and job.report["kept"] == 200 and 0 < job.progress < 1
    job.cancel()
    job.thread.join(timeout=60)
    assert job.status == "cancelled" and job.has_model and job.error is None


def test_two_training_jobs_at_once_do_not_interfere(tmp_path):
    model_cfg, train_cfg = tiny_configs(max_molecules=200, epochs=1)
    jobs = [TrainingJob(name, tmp_path / f"{name}.safetensors", model_cfg, train_cfg, {"name": name}).start()
            for name in ("first", "second")]
    for job in jobs:
        job.thread.join(timeout=120)
    assert [job.status for job in jobs] == ["finished", "finished"]
    assert all(job.has_model and len(job.steps) == 3 for job in jobs)
    assert jobs[0].path != jobs[1].path


def test_training_job_reports_bad_data(tmp_path):
    model_cfg, train_cfg = tiny_configs()
    bad = tmp_path / "bad.smi"
    bad.write_text("not_a_smiles\n")
    job = TrainingJob("t", tmp_path / "t.safetensors", model_cfg, train_cfg.__class__(data=str(bad))).start()
    job.thread.join(timeout=60)
    assert job.status == "failed" and "no valid molecule" in job.error and not job.has_model
