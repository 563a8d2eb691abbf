"""Interpolation: the decoded latent path between two molecules."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from aae_core.molecules.generation import MoleculeGenerator
from aae_core.registry import LoadedModel
from dashboard.services.data import training_set


@st.cache_data(show_spinner=False, max_entries=32)
def interpolation(path: str, modified: float, start: str, end: str, steps: int, method: str,
                  _loaded: LoadedModel) -> pd.DataFrame:
    """Greedy decodings along the latent path from ``start`` to ``end``: columns ``t``, ``smiles``,
    ``valid``, ``novel`` (valid and not in the training set).

    Raises
    ------
    DataError, TokenizerError
        If a SMILES is invalid or the model cannot read it.
    """
    path_frame = MoleculeGenerator(_loaded).interpolate(start, end, steps, method)
    known = training_set()
    return path_frame.assign(novel=[ok and s not in known for s, ok in zip(path_frame["smiles"], path_frame["valid"],
                                                                            strict=True)])
