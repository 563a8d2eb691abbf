"""Interpolation: the decoded latent path between two molecules, and how the model reads a molecule back (the
greedy decoding of its code, with its Tanimoto similarity to the input), which is where every path and every
latent neighbourhood of that molecule really starts."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from aae_core.molecules import chem
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.molecules.latent_quality import fingerprints, tanimoto
from aae_core.registry import LoadedModel
from dashboard.services.data import training_set


@st.cache_data(show_spinner=False, max_entries=32)
def interpolation(path: str, modified: float, start: str, end: str, steps: int, method: str,
                  _loaded: LoadedModel) -> pd.DataFrame:
    """Greedy decodings along the latent path from ``start`` to ``end``: columns ``t``, ``smiles``,
    ``valid``, ``novel`` (valid and not in the training set). The first and last rows are the model's
    readings of ``start`` and ``end`` (see :func:`reading`).

    Raises
    ------
    DataError, TokenizerError
        If a SMILES is invalid or the model cannot read it.
    """
    path_frame = MoleculeGenerator(_loaded).interpolate(start, end, steps, method)
    known = training_set()
    return path_frame.assign(novel=[ok and s not in known for s, ok in zip(path_frame["smiles"], path_frame["valid"],
                                                                            strict=True)])


@dataclass(frozen=True)
class Reading:
    """How the model reads one molecule: ``smiles`` (the input, canonical), ``decoded`` (the greedy decoding of
    its code: canonical SMILES, or the raw string when invalid), ``valid`` (whether ``decoded`` parses) and
    ``tanimoto`` (Morgan radius 2, 2048 bits, between the two; 0.0 when ``decoded`` is invalid)."""

    smiles: str
    decoded: str
    valid: bool
    tanimoto: float

    @property
    def exact(self) -> bool:
        """Whether the model decodes the molecule's code back to the molecule itself."""
        return self.valid and self.decoded == self.smiles


def reading(smiles: str, decoded: str) -> Reading:
    """The :class:`Reading` of the molecule ``smiles`` whose code the model decodes to ``decoded``.

    Raises
    ------
    ValueError
        If ``smiles`` does not parse (inputs are checked before they are encoded).
    """
    canonical = chem.canonicalize(smiles)
    if canonical is None:
        raise ValueError(f"{smiles!r} is not a valid SMILES")
    rebuilt = chem.canonicalize(decoded)
    bits = fingerprints([canonical, rebuilt])
    return Reading(canonical, rebuilt or decoded, rebuilt is not None, float(tanimoto(bits[0], bits[1])))


@st.cache_data(show_spinner=False, max_entries=64)
def read_back(path: str, modified: float, smiles: str, _loaded: LoadedModel) -> Reading:
    """The :func:`reading` of ``smiles``: encoded, then decoded greedily.

    Raises
    ------
    DataError, TokenizerError
        If the SMILES is invalid or the model cannot read it.
    """
    generator = MoleculeGenerator(_loaded)
    return reading(smiles, generator.decode(generator.encode([smiles]), greedy=True)[0])


def reading_text(what: str, result: Reading, from_it: str) -> str:
    """One plain sentence on ``result`` for the molecule called ``what`` (e.g. "the start"); when the model does
    not decode it back to itself, the sentence ends with what follows, ``from_it`` (e.g. "the path starts from")
    + "that molecule, not yours"."""
    if result.exact:
        return f"The model decodes {what} back to itself (Tanimoto 1.00)."
    if not result.valid:
        return (f"The model decodes {what}'s code to a string that is not a valid molecule: {from_it} that string, "
                "not your molecule.")
    return (f"The model decodes {what}'s code to a different molecule (Tanimoto {result.tanimoto:.2f} to yours): "
            f"{from_it} that molecule, not yours.")
