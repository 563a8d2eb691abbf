"""The map of :mod:`dashboard.services.latent_map`: selections, layer order, prior-fit numbers, shipped data."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from aae_core.molecules.data import SHIPPED, read_table
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.registry import load_model
from dashboard.services import latent_map

ROOT = Path(__file__).resolve().parents[2]


def test_selected_rows_reads_customdata_of_molecule_points():
    points = pd.DataFrame({"x": [0, 1, 2], "y": [0, 1, 2], "kind": ["training", "training", "generated"],
                           "smiles": ["CCO", "CCN", "CCC"]}, index=[0, 1, 5])  # labels of the full table
    event = SimpleNamespace(selection=SimpleNamespace(points=[{"customdata": 5}, {"customdata": [0]}, {"x": 2}]))
    assert latent_map.selected_rows(event, points)["smiles"].tolist() == ["CCO", "CCC"]
    assert latent_map.selected_rows(None, points).empty


def test_prior_on_top_moves_the_prior_above_the_molecules_and_below_the_rest():
    names = ["prior density", "prior", "training", "generated", "yours", "rings"]
    figure = go.Figure([go.Scattergl(name=name) for name in names])
    latent_map.prior_on_top(figure, "prior", ("training", "generated"))
    assert [t.name for t in figure.data] == ["prior density", "training", "generated", "prior", "yours", "rings"]
    alone = go.Figure([go.Scattergl(name="training")])
    assert [t.name for t in latent_map.prior_on_top(alone, "prior", ("training",)).data] == ["training"]


def test_prior_fit_is_near_chance_for_prior_like_codes_and_one_for_shifted_codes():
    rng = np.random.default_rng(0)
    prior, reference, like = (rng.normal(size=(300, 8)).astype(np.float32) for _ in range(3))
    fit = latent_map.prior_fit(like, prior, reference)
    assert set(fit) == {"auc", "auc_logistic", "auc_knn", "mmd2", "mmd2_floor", "n"} and fit["n"] == 300
    assert fit["auc"] < 0.62 and abs(fit["mmd2"]) < 0.02 and abs(fit["mmd2_floor"]) < 0.02
    assert latent_map.prior_fit_text(fit).endswith("0.5 would mean not at all): the codes fill the prior.")
    shifted = latent_map.prior_fit(like + 2, prior, reference)
    assert shifted["auc"] > 0.99 and shifted["mmd2"] > 10 * abs(shifted["mmd2_floor"])
    assert latent_map.prior_fit_text(shifted) == (
        "A classifier tells these codes from prior samples almost every time (AUC 1.00; 0.5 would mean never, the "
        "codes filling the prior): they sit in different places.")

def test_the_shipped_map_molecules_are_the_train_cut_sample_and_codes_fit_only_their_checkpoint(tmp_path):
    frame, column = read_table(SHIPPED["moses-train"])
    drawn = frame[column].sample(max(latent_map.MAP_SIZES), random_state=0).tolist()
    assert latent_map.map_sample()["smiles"].tolist() == drawn
    model = ROOT / "checkpoints" / "aae_moses.safetensors"
    shipped = latent_map.shipped_codes(str(model), 0.0)
    assert shipped is not None and shipped.shape == (10_000, 64) and shipped.dtype == np.float32
    codes = MoleculeGenerator(load_model(model)).encode(drawn[:20]).numpy()
    np.testing.assert_allclose(shipped[:20], codes, rtol=2e-3, atol=2e-3)  # float16
    copy = tmp_path / "other.safetensors"
    copy.write_bytes(model.read_bytes() + b" ")  # another file: its codes are encoded, not taken from the asset
    assert latent_map.shipped_codes(str(copy), 0.0) is None


def test_training_codes_take_the_shipped_prefix_and_encode_the_rest(monkeypatch, checkpoint_dir):
    loaded = load_model(checkpoint_dir / "tiny.safetensors")
    smiles = latent_map.map_sample()["smiles"].iloc[:6].tolist()
    encoded = MoleculeGenerator(loaded).encode(smiles).numpy()
    monkeypatch.setattr(latent_map, "shipped_codes", lambda path, modified: encoded[:4] + 100)
    frame, codes = latent_map.training_codes.__wrapped__("tiny", 1.0, 6, loaded)
    assert frame["smiles"].tolist() == smiles
    np.testing.assert_allclose(codes[:4], encoded[:4] + 100)
    np.testing.assert_allclose(codes[4:], encoded[4:], atol=1e-5)
