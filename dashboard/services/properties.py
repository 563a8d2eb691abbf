"""Molecular properties (QED, logP, SA, MW, rule-of-five violations) of SMILES, computed once per string."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from aae_core.molecules import chem

PROPERTY_COLUMNS = (*chem.PROPERTY_NAMES, "lipinski")


@functools.lru_cache(maxsize=50_000)
def molecule_properties(smiles: str) -> tuple[float, ...]:
    """QED, logP, SA, MW and ``lipinski`` (rule-of-five violations) of one SMILES, in
    :data:`PROPERTY_COLUMNS` order; all NaN when it does not parse. Cached per string (QED alone costs
    about 3 ms a molecule here, so a batch computes each molecule's properties once, when first needed)."""
    mol = chem.mol_from_smiles(smiles)
    if mol is None:
        return (np.nan,) * len(PROPERTY_COLUMNS)
    values = chem.properties(mol)
    return (*(values[name] for name in chem.PROPERTY_NAMES), float(chem.lipinski_violations(mol)))


def properties_table(smiles: tuple[str, ...]) -> pd.DataFrame:
    """:data:`PROPERTY_COLUMNS` of each SMILES (NaN where invalid), one row per input."""
    return pd.DataFrame([molecule_properties(s) for s in smiles], columns=list(PROPERTY_COLUMNS),
                        index=range(len(smiles)))


def with_properties(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (with a ``smiles`` column) plus its :data:`PROPERTY_COLUMNS` (replaced if present)."""
    table = properties_table(tuple(frame["smiles"])).set_index(frame.index)
    return frame.drop(columns=list(PROPERTY_COLUMNS), errors="ignore").join(table)
