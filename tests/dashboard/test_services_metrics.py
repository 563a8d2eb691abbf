"""Metrics of runs for the Compare page (:mod:`dashboard.services.metrics`): progress of every step, worker
processes, the table's columns and formats, the frontier points."""

from __future__ import annotations

import math
import sys
import types

import pytest

from aae_core.registry import load_model
from dashboard.services import metrics


@pytest.fixture
def small_metrics(monkeypatch, tmp_path):
    """Metrics of 100 samples against 200 reference molecules, latent numbers of 60, an empty disk cache and no
    result kept from another test."""
    monkeypatch.setenv("AAE_LAB_CACHE", str(tmp_path / "cache"))
    for name, value in {"METRICS_SAMPLES": 100, "METRICS_REFERENCE": 200, "LATENT_HELD_OUT": 60,
                        "LATENT_POOL": 100, "_REFERENCE": None}.items():
        monkeypatch.setattr(metrics, name, value)
    monkeypatch.setattr(metrics, "_RESULTS", metrics.OrderedDict())


def test_run_metrics_reports_each_step_and_keeps_the_result(small_metrics, checkpoint_dir, monkeypatch):
    core = metrics.metrics_module()
    drawn = core.moses_smiles("train")[:100]  # the tiny model samples no valid molecule: real ones stand in

    def sample_with_progress(generator, n, seed=0, progress=None):
        progress("sampling", 0, n)
        progress("sampling", n, n)
        return drawn[:n]

    monkeypatch.setattr(core, "sample_with_progress", sample_with_progress)
    path = checkpoint_dir / "tiny.safetensors"
    calls = []
    result = metrics.run_metrics(str(path), 1.0, load_model(path), lambda *call: calls.append(call), latent=True)
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages[0] == "sampling" and stages[-1] == "latent space"
    assert {"canonical SMILES", "SNN", "FCD: ChemNet activations"} <= set(stages)
    assert "MOSES test (200): ChemNet activations" in stages  # the reference was built: the cache was empty
    for stage in stages:
        done = [(d, t) for s, d, t in calls if s == stage]
        assert done[0][0] == 0 and done[-1][0] == done[-1][1], stage  # each step starts at 0 and ends complete
    assert set(metrics.LATENT_COLUMNS) <= set(result) and 0 <= result["valid"] <= 1
    assert metrics.known(str(path), 1.0) == result and metrics.known(str(path), 2.0) is None
    calls.clear()
    assert metrics.run_metrics(str(path), 1.0, load_model(path), lambda *call: calls.append(call)) == result
    assert calls == []  # kept: nothing to compute or report


def test_metrics_table_has_a_row_per_run_then_the_paper_rows_and_latent_columns():
    runs = {"a very long run name that a narrow index column would cut": {"valid": 0.5, "FCD/Test": 12.3456,
                                                                         "weight": 310.37500000000006,
                                                                         "prior_auc": 0.61, "exact_match": 0.2}}
    table = metrics.metrics_table(runs)
    assert table.index.name == "run" and table.index[0] == next(iter(runs))
    assert "MOSES AAE (paper)" in table.index
    assert {"prior AUC", "exact reconstruction"} <= set(table.columns)
    assert math.isnan(table.loc["MOSES AAE (paper)", "prior AUC"])
    formats = metrics.column_formats(table)
    assert formats["FCD/Test"] == "%.2f" and formats["valid"] == "%.3f" and formats["weight"] == "%.1f"


def test_frontier_points_come_from_cards_else_from_computed_numbers(checkpoint_dir):
    loaded = load_model(checkpoint_dir / "tiny.safetensors")
    carded = load_model(checkpoint_dir / "tiny.safetensors")
    carded.meta["card"] = {"latent_space": {"figures": {"valid": 0.86, "exact_match": 0.1}}}
    computed = {"mine": {"valid": 0.4, "exact_match": 0.3}, "carded": {"valid": 0.0, "exact_match": 0.0},
                "unmeasured": {"valid": 0.5, "exact_match": math.nan}}
    points = metrics.frontier_points({"mine": loaded, "carded": carded, "unmeasured": loaded, "new": loaded},
                                     computed)
    assert points == {"mine": (0.4, 0.3), "carded": (0.86, 0.1)}


def test_workers_start_without_running_the_app_script(tmp_path, monkeypatch):
    """Under ``streamlit run`` the app script is ``__main__``, which spawned workers would run first."""
    from aae_core.molecules.metrics.parallel import shutdown_workers

    marker = tmp_path / "ran"
    script = tmp_path / "app.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    app_module = types.ModuleType("__main__")
    app_module.__file__ = str(script)
    shutdown_workers()  # a pool started by an earlier test would not spawn again
    monkeypatch.setattr(metrics, "_WORKERS_STARTED", False)
    monkeypatch.setitem(sys.modules, "__main__", app_module)
    try:
        metrics.start_workers()
        assert sys.modules["__main__"] is app_module  # given back
        from aae_core.molecules.metrics.parallel import map_chunks

        assert sum(map_chunks(len, range(1000), n_jobs=-1, chunk=100)) == 1000  # the started workers do the work
    finally:
        shutdown_workers()
    assert not marker.exists()
