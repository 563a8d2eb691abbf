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
