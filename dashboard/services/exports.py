"""Downloads: CSV and SD files of molecule tables, their numbers rounded to what they can tell."""

from __future__ import annotations

import io

import pandas as pd
from rdkit import Chem
from rdkit.Chem import rdDepictor

from aae_core.molecules import chem

#: Decimals a download keeps per column: MW in Da to 0.01 (its atomic weights are given to about that), the
#: unitless properties and similarities to 0.001 (RDKit's QED and SA score carry no more), seconds to 0.01.
DECIMALS = {"MW": 2, "QED": 3, "logP": 3, "SA": 3, "similarity": 3, "tanimoto": 3, "time_s": 2}
#: Significant digits of any other float column (losses, codes, distances): rounding noise such as
#: 310.37500000000006 goes, the precision of a float32 value stays.
SIGNIFICANT = 7


def rounded(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose float columns are rounded for a file: to :data:`DECIMALS` places where it names
    the column, else to :data:`SIGNIFICANT` significant digits (missing values stay missing)."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_float_dtype(out[column]):
            digits = DECIMALS.get(column)
            out[column] = (out[column].round(digits) if digits is not None
                           else out[column].map(lambda v: float(f"{v:.{SIGNIFICANT}g}"), na_action="ignore"))
    return out


def to_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes of ``frame`` (drawings left out, numbers :func:`rounded`)."""
    return rounded(frame.drop(columns=["molecule"], errors="ignore")).to_csv(index=False).encode()


def to_sdf(frame: pd.DataFrame) -> str:
    """An SD file of the valid molecules of ``frame`` (2-D coordinates; the other columns as properties, numbers
    :func:`rounded`)."""
    buffer = io.StringIO()
    writer = Chem.SDWriter(buffer)
    for row in rounded(frame.drop(columns=["molecule"], errors="ignore")).to_dict("records"):
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
