"""CSV and SD files of :mod:`dashboard.services.exports`."""

from __future__ import annotations

import pandas as pd
from rdkit import Chem

from dashboard.services import drawings, exports


def test_sdf_and_csv_exports_round_trip():
    frame = drawings.with_drawings(pd.DataFrame({"smiles": ["CCO", "bad", "c1ccccc1"], "QED": [0.4, None, 0.5]}))
    supplier = Chem.SDMolSupplier()
    supplier.SetData(exports.to_sdf(frame))
    molecules = [m for m in supplier if m is not None]
    assert [Chem.MolToSmiles(m) for m in molecules] == ["CCO", "c1ccccc1"]
    assert molecules[0].GetProp("QED") == "0.4" and molecules[0].GetProp("_Name") == "CCO"
    csv = exports.to_csv(frame).decode()
    assert csv.splitlines()[0] == "smiles,QED" and "data:image" not in csv


def test_exports_round_numbers_per_column():
    """MW to 0.01 Da, the unitless properties to 0.001, anything else to 7 significant digits; integers, text and
    missing values as they are."""
    frame = pd.DataFrame({"smiles": ["CCO", "c1ccccc1"], "MW": [310.37500000000006, 78.114],
                          "QED": [0.40712345678, None], "SA": [1.98, 2.0000000001], "lipinski": [0, 1],
                          "value": [0.1 + 0.2, 1234.56789012], "distance": [1e-9 / 3, 2.5]})
    lines = exports.to_csv(frame).decode().splitlines()
    assert lines == ["smiles,MW,QED,SA,lipinski,value,distance",
                     "CCO,310.38,0.407,1.98,0,0.3,3.333333e-10",
                     "c1ccccc1,78.11,,2.0,1,1234.568,2.5"]
    supplier = Chem.SDMolSupplier()
    supplier.SetData(exports.to_sdf(frame))
    first, second = supplier
    assert (first.GetProp("MW"), first.GetProp("QED"), first.GetProp("value")) == ("310.38", "0.407", "0.3")
    assert not second.HasProp("QED")
    assert frame["MW"][0] == 310.37500000000006  # the frame shown on the page keeps its numbers
