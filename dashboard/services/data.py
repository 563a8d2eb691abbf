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
    """Load the novelty set and the SA score's fragment table, and import the libraries of the Latent map, in the
    background once per server process, so that the first Sample click and the first map do not wait for them
    (:func:`training_set` callers block until it is loaded; an import in progress is waited for, not repeated)."""
    thread = threading.Thread(target=_warm_up, name="aae-lab-preload", daemon=True)
    thread.start()
    return thread


def _warm_up() -> None:
    training_set()
    chem.properties(chem.mol_from_smiles("CCO"))  # the SA score reads its fragment table on first use
    import scipy.stats  # noqa: F401  (the prior's density on the map; a second or more to import)
    import sklearn.decomposition  # noqa: F401  (PCA)
    import sklearn.linear_model  # noqa: F401  (the two-sample test beside the map)
    import sklearn.model_selection  # noqa: F401
    import sklearn.neighbors  # noqa: F401
