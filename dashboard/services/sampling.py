"""Sampling: batches of molecules decoded from the prior, their quality (validity, uniqueness, novelty) and
the filters of the Sample page."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from aae_core.molecules import chem
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.registry import LoadedModel
from dashboard import inputs
from dashboard.services.data import training_set
from dashboard.services.properties import with_properties

#: Sampling decodes this many chunks at once in threads, each op on one intra-op thread (see MoleculeGenerator.decode)
DECODE_WORKERS = len(os.sched_getaffinity(0))
#: Property ranges of the filters; a slider left at an end of its range sets no limit on that side.
PROPERTY_RANGES = {"MW": (0.0, 800.0), "logP": (-5.0, 10.0), "QED": (0.0, 1.0), "SA": (1.0, 10.0)}


@dataclass
class Batch:
    """A sampled batch: ``frame`` has one row per sample (``smiles``, ``valid``, ``unique``, ``novel``, the
    properties, ``lipinski`` violations) and ``settings`` says how it was made."""

    frame: pd.DataFrame
    settings: dict


def describe(smiles: list[str], known: frozenset[str], valid: Sequence[bool] | None = None) -> pd.DataFrame:
    """One row per SMILES: ``valid`` (parsed here unless given, e.g. by
    :meth:`~aae_core.molecules.generation.MoleculeGenerator.sample_marked`), ``unique`` (first occurrence of this
    string in the batch) and ``novel`` (valid and not in ``known``). Properties come later, only for the rows that need
    them (:func:`with_properties`), so a batch of 1,000 is described in a fraction of a second."""
    if valid is None:
        valid = [chem.mol_from_smiles(s) is not None for s in smiles]
    valid = list(map(bool, valid))
    return pd.DataFrame({
        "smiles": smiles, "valid": valid, "unique": ~pd.Series(smiles).duplicated().to_numpy(),
        "novel": [ok and s not in known for s, ok in zip(smiles, valid, strict=True)],
    })


def batch_stats(frame: pd.DataFrame) -> dict[str, float]:
    """MOSES-style ``validity`` (valid / all), ``uniqueness`` (distinct valid / valid) and ``novelty``
    (distinct valid not in the training set / distinct valid); NaN where undefined."""
    distinct = frame["valid"] & frame["unique"]
    valid, unique, novel = frame["valid"].sum(), distinct.sum(), (distinct & frame["novel"]).sum()
    return {"validity": valid / len(frame) if len(frame) else np.nan,
            "uniqueness": unique / valid if valid else np.nan,
            "novelty": novel / unique if unique else np.nan}


@st.cache_data(show_spinner=False, max_entries=16)
def sample_batch(path: str, modified: float, n: int, temperature: float, seed: int, _loaded: LoadedModel) -> Batch:
    """Sample ``n`` molecules from the prior (seeded) and :func:`describe` them."""
    smiles, valid = MoleculeGenerator(_loaded).sample_marked(n, temperature=temperature, seed=seed,
                                                             workers=DECODE_WORKERS)
    settings = {"model": _loaded.name, "n": n, "temperature": temperature, "seed": seed}
    return Batch(describe(smiles, training_set(), valid), settings)


@dataclass
class Filters:
    """Which molecules of a batch to keep. ``ranges``: property -> (low, high), a bound at the end of
    :data:`PROPERTY_RANGES` meaning no limit; ``lipinski``: at most one rule-of-five violation (Lipinski's
    own criterion); ``smarts``: substructure that must be present (empty: any); ``unique_only``: the first
    copy of each string only."""

    ranges: dict[str, tuple[float, float]]
    lipinski: bool = False
    smarts: str = ""
    valid_only: bool = True
    unique_only: bool = True

    def needs_properties(self) -> bool:
        """Whether a property range or the rule of five is set (then every row's properties are needed)."""
        return self.lipinski or any(low > PROPERTY_RANGES[name][0] or high < PROPERTY_RANGES[name][1]
                                    for name, (low, high) in self.ranges.items())


def apply_filters(frame: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The rows of a :func:`describe` frame that pass ``filters`` (with :data:`properties.PROPERTY_COLUMNS` added
    when a property filter needs them).

    Raises
    ------
    ValueError
        If ``filters.smarts`` is not valid SMARTS or longer than :data:`inputs.MAX_SMARTS_CHARS`.
    """
    smarts = inputs.check_length(filters.smarts, inputs.MAX_SMARTS_CHARS, "the SMARTS pattern")
    if filters.needs_properties():
        frame = with_properties(frame)
    keep = pd.Series(True, index=frame.index)
    if filters.valid_only:
        keep &= frame["valid"]
    if filters.unique_only:
        keep &= frame["unique"]
    for name, (low, high) in filters.ranges.items():
        full_low, full_high = PROPERTY_RANGES[name]
        if low > full_low:
            keep &= frame[name] >= low
        if high < full_high:
            keep &= frame[name] <= high
    if filters.lipinski:
        keep &= frame["lipinski"] <= 1
    if smarts:
        query = chem.substructure_query(smarts)
        keep &= np.array([m is not None and m.HasSubstructMatch(query) for m in map(chem.mol_from_smiles,
                                                                                      frame["smiles"])], dtype=bool)
    return frame[keep]
