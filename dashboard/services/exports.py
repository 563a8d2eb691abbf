"""Downloads: CSV and SD files of molecule tables."""

from __future__ import annotations

import io

import pandas as pd
from rdkit import Chem
from rdkit.Chem import rdDepictor

from aae_core.molecules import chem


def to_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes of ``frame`` (drawings left out)."""
    return frame.drop(columns=["molecule"], errors="ignore").to_csv(index=False).encode()


def to_sdf(frame: pd.DataFrame) -> str:
    """An SD file of the valid molecules of ``frame`` (2-D coordinates; the other columns as properties)."""
    buffer = io.StringIO()
    writer = Chem.SDWriter(buffer)
    for row in frame.drop(columns=["molecule"], errors="ignore").to_dict("records"):
        mol = chem.mol_from_smiles(row["smiles"])
        if mol is None:
            continue
        rdDepictor.Compute2DCoords(mol)
        mol.SetProp("_Name", row["smiles"])
        for key, value in row.items():
            if pd.notna(value):
                mol.SetProp(str(key), str(value))
        writer.write(mol)
    writer.close()
    return buffer.getvalue()
