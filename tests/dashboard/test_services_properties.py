"""Molecular properties of :mod:`dashboard.services.properties`."""

from __future__ import annotations

import pandas as pd
import pytest

from aae_core.molecules import chem
from dashboard.services import properties


def test_with_properties_adds_every_property_and_nan_for_invalid():
    frame = properties.with_properties(pd.DataFrame({"smiles": ["not a smiles", "c1ccccc1"], "QED": [9.0, 9.0]},
                                                  index=[5, 7]))
    assert list(frame.columns) == ["smiles", *properties.PROPERTY_COLUMNS]
    assert frame.loc[5, list(properties.PROPERTY_COLUMNS)].isna().all()
    assert frame.loc[7, "MW"] == pytest.approx(78.11, abs=0.01) and frame.loc[7, "QED"] < 1
    assert frame.loc[7, "lipinski"] == 0


def test_the_map_molecules_properties_are_shipped_and_match_rdkit(monkeypatch):
    shipped = properties.shipped_properties()
    assert len(shipped) == 20_000
    for smiles in list(shipped)[:5]:
        mol = chem.mol_from_smiles(smiles)
        computed = [*(chem.properties(mol)[name] for name in chem.PROPERTY_NAMES), chem.lipinski_violations(mol)]
        assert shipped[smiles] == pytest.approx(computed, rel=1e-5, abs=1e-6)  # 6 significant digits
    smiles = next(iter(shipped))
    monkeypatch.setattr(chem, "mol_from_smiles", lambda s: None)  # nothing is computed for these
    properties.molecule_properties.cache_clear()
    assert properties.properties_table((smiles,)).iloc[0].tolist() == list(shipped[smiles])
    assert properties.properties_table(("CCO",)).isna().all(axis=None)
    properties.molecule_properties.cache_clear()
