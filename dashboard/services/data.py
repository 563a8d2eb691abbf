"""The shipped MOSES train cut as the novelty set of the molecule pages, loaded in the background once per
server process."""

from __future__ import annotations

import threading

import streamlit as st

from aae_core.molecules import chem
from aae_core.molecules.data import SHIPPED, read_table


@st.cache_resource(show_spinner=False)
def training_set() -> frozenset[str]:
    """SMILES of the shipped MOSES train cut, for novelty (the file's SMILES are RDKit-canonical: 1 in 2,000
    differs under the current RDKit, so novelty may be overestimated by about 0.05%)."""
    frame, column = read_table(SHIPPED["moses-train"])
    return frozenset(frame[column])


@st.cache_resource(show_spinner=False)
def preload() -> threading.Thread:
    """Load the novelty set and the SA score's fragment table in the background once per server process, so
    that the first Sample click does not wait for them (:func:`training_set` callers block until it is
    loaded)."""
    thread = threading.Thread(target=_warm_up, name="aae-lab-preload", daemon=True)
    thread.start()
    return thread


def _warm_up() -> None:
    training_set()
    chem.properties(chem.mol_from_smiles("CCO"))  # the SA score reads its fragment table on first use
