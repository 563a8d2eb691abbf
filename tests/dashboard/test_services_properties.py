"""Molecular properties of :mod:`dashboard.services.properties`."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard.services import properties


def test_with_properties_adds_every_property_and_nan_for_invalid():
    frame = properties.with_properties(pd.DataFrame({"smiles": ["not a smiles", "c1ccccc1"], "QED": [9.0, 9.0]},
                                                  index=[5, 7]))
    assert list(frame.columns) == ["smiles", *properties.PROPERTY_COLUMNS]
    assert frame.loc[5, list(properties.PROPERTY_COLUMNS)].isna().all()
    assert frame.loc[7, "MW"] == pytest.approx(78.11, abs=0.01) and frame.loc[7, "QED"] < 1
    assert frame.loc[7, "lipinski"] == 0
