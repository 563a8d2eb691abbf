"""Selections on the map of :mod:`dashboard.services.latent_map`."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from dashboard.services import latent_map


def test_selected_rows_reads_customdata_of_molecule_points():
    points = pd.DataFrame({"x": [0, 1, 2], "y": [0, 1, 2], "kind": ["training", "training", "generated"],
                           "smiles": ["CCO", "CCN", "CCC"]}, index=[0, 1, 5])  # labels of the full table
    event = SimpleNamespace(selection=SimpleNamespace(points=[{"customdata": 5}, {"customdata": [0]}, {"x": 2}]))
    assert latent_map.selected_rows(event, points)["smiles"].tolist() == ["CCO", "CCC"]
    assert latent_map.selected_rows(None, points).empty
