"""Molecular properties (QED, logP, SA, MW, rule-of-five violations) of SMILES, computed once per string; those of
the Latent map's 20,000 molecules are shipped (``assets/latent_map/molecules.csv.gz``, made by
``assets/make_latent_map.py``), so that colouring the map by a property is immediate."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from aae_core.molecules import chem

PROPERTY_COLUMNS = (*chem.PROPERTY_NAMES, "lipinski")
SHIPPED_PROPERTIES = Path(__file__).resolve().parents[2] / "assets" / "latent_map" / "molecules.csv.gz"


@functools.cache
def shipped_properties() -> dict[str, tuple[float, ...]]:
    """{SMILES: :data:`PROPERTY_COLUMNS` values} of the molecules in :data:`SHIPPED_PROPERTIES` (floats to 6
    significant digits), read once per process (about 0.1 s); empty when the file is missing."""
    try:
        frame = pd.read_csv(SHIPPED_PROPERTIES)
    except OSError:
        return {}
    values = frame[list(PROPERTY_COLUMNS)].astype(float).itertuples(index=False, name=None)
    return dict(zip(frame["smiles"], values, strict=True))


@functools.lru_cache(maxsize=50_000)
def molecule_properties(smiles: str) -> tuple[float, ...]:
    """QED, logP, SA, MW and ``lipinski`` (rule-of-five violations) of one SMILES, in
    :data:`PROPERTY_COLUMNS` order; all NaN when it does not parse. Taken from :func:`shipped_properties` when
    the string is there, else computed and cached per string (QED alone costs about 3 ms a molecule here, so a
    batch computes each molecule's properties once, when first needed)."""
    shipped = shipped_properties().get(smiles)
    if shipped is not None:
        return shipped
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
