"""The comparison report on tiny runs: tables with the MOSES paper rows, loss curves, latent quality, CLI."""

import warnings

import pandas as pd
import pytest
import torch

from aae_core.checkpoints import load_checkpoint
from aae_core.cli import main
from aae_core.config import ModelConfig, TrainConfig
from aae_core.exceptions import DataError
from aae_core.molecules.compare import compare_runs, curves_figure, metrics_table
from aae_core.molecules.metrics import moses_smiles
from aae_core.molecules.pipeline import train_molecules

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny AE, VAE and AAE trained for two steps on the same 64 molecules."""
    folder = tmp_path_factory.mktemp("runs")
    paths = []
    for model in ("ae", "vae", "aae"):
        cfg = ModelConfig(model=model, hidden_dim=64, decoder_hidden_dim=128, latent_dim=16, discriminator_dims=[64])
        train_cfg = TrainConfig(max_molecules=64, batch_size=32, epochs=1, monitor_samples=2, log_every=1)
        train_molecules(cfg, train_cfg, folder / f"{model}.safetensors", card={"name": f"tiny-{model}"})
        paths.append(folder / f"{model}.safetensors")
    return paths


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sets")
    reference, train = folder / "reference.smi", folder / "train.smi"
    reference.write_text("\n".join(moses_smiles("test")[:40]) + "\n")
    train.write_text("\n".join(moses_smiles("train")[:40]) + "\n")
    return reference, train


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AAE_LAB_CACHE", str(tmp_path / "cache"))


def test_compare_runs_writes_the_report(runs, sets, tmp_path):
    reference, train = sets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few or no valid samples: nan metrics are expected and warned about
        reports = compare_runs(runs, tmp_path / "report", n=16, reference=str(reference), train=str(train),
                               n_held_out=12, command="aae-lab compare ...", n_pool=30)
    assert [r.name for r in reports] == ["tiny-ae", "tiny-vae", "tiny-aae"]
    metrics = pd.read_csv(tmp_path / "report" / "metrics.csv", index_col="run")
    assert list(metrics.index) == ["tiny-ae", "tiny-vae", "tiny-aae", "MOSES AAE (paper)", "MOSES VAE (paper)"]
    assert metrics.loc["MOSES VAE (paper)", "valid"] == pytest.approx(0.9767)
    assert {"valid", "unique@1000", "Novelty", "FCD/Test", "logP", "SA", "QED", "weight"} <= set(metrics.columns)
    assert metrics.loc["tiny-vae", "valid"] == reports[1].metrics["valid"]
    latent = pd.read_csv(tmp_path / "report" / "latent_quality.csv", index_col="run")
    assert {"mmd2", "exact_match", "token_accuracy", "mean_gap", "cov_gap", "prior_auc", "neighbour_ratio",
            "reconstruction_tanimoto"} <= set(latent.columns)
    assert latent["neighbour_tanimoto"].between(0, 1).all() and (latent["neighbour_ratio"] > 0).all()
    report = (tmp_path / "report" / "report.md").read_text()
    assert "aae-lab compare ..." in report and "| MOSES AAE (paper) | 0.937 |" in report
    html = (tmp_path / "report" / "report.html").read_text()
    assert html.count("plotly.js v") <= 2 and "tiny-aae" in html
    assert not list((tmp_path / "report").glob("*.png"))  # kaleido is not installed


def test_curves_overlay_each_term_where_recorded(runs):
    histories = {path.stem: load_checkpoint(path).meta["history"] for path in runs}
    fig = curves_figure(histories)
    panels = {(trace.name, trace.xaxis) for trace in fig.data}
    assert {("ae", "x"), ("vae", "x"), ("aae", "x")} <= panels  # reconstruction: every run
    assert ("vae", "x2") in panels and ("ae", "x2") not in panels  # KL: VAE only
    assert ("aae", "x3") in panels and ("vae", "x3") not in panels  # adversarial: AAE only
    assert sum(trace.showlegend for trace in fig.data) == 3


def test_metrics_table_without_paper_rows():
    table = metrics_table({"a": {"valid": 0.5, "Novelty": 1.0}}, paper=False)
    assert list(table.index) == ["a"] and list(table.columns) == ["valid", "Novelty"]


def test_cli_compare_and_annotate(runs, sets, tmp_path, capsys):
    reference, train = sets
    out = tmp_path / "cli"
    before = load_checkpoint(runs[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["compare", str(runs[1]), "--n", "8", "--reference", str(reference), "--train", str(train),
                     "--n-held-out", "8", "--out", str(out), "--annotate"])
    assert code == 0 and "tiny-vae" in capsys.readouterr().out
    card = load_checkpoint(runs[1]).meta["card"]
    assert card["evaluation"]["command"].startswith("aae-lab compare")
    assert {"valid", "mmd2", "exact_match", "neighbour_ratio"} <= set(card["evaluation"]["metrics"])
    after = load_checkpoint(runs[1])
    for key, value in before.model_state.items():
        torch.testing.assert_close(after.model_state[key], value)
    old, new = before.optimizer_states["autoencoder"], after.optimizer_states["autoencoder"]
    assert new["param_groups"] == old["param_groups"]
    torch.testing.assert_close(new["state"][0]["exp_avg"], old["state"][0]["exp_avg"])
    assert (runs[1].stat().st_mode & 0o777) != 0o600  # normal permissions, like save_checkpoint's


def test_duplicate_run_names_are_rejected(runs, tmp_path):
    with pytest.raises(DataError, match="distinct names"):
        compare_runs([runs[0], runs[0]], tmp_path / "dup")
