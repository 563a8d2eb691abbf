"""Per-molecule quantities behind the MOSES and GuacaMol metrics.

Everything here follows the ``molsets`` 0.3.1 code (Polykovskiy et al. 2020, "Molecular Sets (MOSES): a
benchmarking platform for molecular generation models", Front. Pharmacol. 11:565644,
``moses/metrics/utils.py``) or the ``guacamol`` code (Brown et al. 2019, "GuacaMol: benchmarking models
for de novo molecular design", J. Chem. Inf. Model. 59:1096, ``guacamol/utils/chemistry.py``), using
RDKit for the chemistry and the ``fcd`` package for ChemNet.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from rdkit import Chem, DataStructs
from rdkit.Chem.Scaffolds import MurckoScaffold
from rdkit.ML.Descriptors import MoleculeDescriptors

from aae_core import chem

__all__ = [
    "KL_DESCRIPTORS",
    "MOSES_ALLOWED_ATOMS",
    "PROPERTY_COLUMNS",
    "MoleculeFeatures",
    "brics_fragments",
    "canonical_smiles",
    "chemnet_statistics",
    "kl_descriptor_values",
    "molecule_features",
    "murcko_scaffold",
    "passes_filters",
    "property_values",
]

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "moses"

#: Property columns of the MOSES Wasserstein-1 metrics, in MOSES order and with MOSES names.
PROPERTY_COLUMNS = ("logP", "SA", "QED", "weight")

#: Physico-chemical descriptors of GuacaMol's KL-divergence benchmark (Brown et al. 2019, Sec. 2.1.3); the
#: first four are treated as continuous, the last five as discrete.
KL_DESCRIPTORS = (
    "BertzCT",
    "MolLogP",
    "MolWt",
    "TPSA",
    "NumHAcceptors",
    "NumHDonors",
    "NumRotatableBonds",
    "NumAliphaticRings",
    "NumAromaticRings",
)

#: Atoms a molecule may contain to pass the MOSES ``Filters`` metric.
MOSES_ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})


def canonical_smiles(smiles: str | None, isomeric: bool = True) -> str | None:
    """RDKit canonical SMILES, or ``None`` for ``None``, empty or unparsable input (never raises).

    ``isomeric=False`` drops stereochemistry, as GuacaMol's ``canonicalize(..., include_stereocenters=
    False)`` does.
    """
    mol = chem.mol_from_smiles(smiles)
    if mol is None:
        return None
    return Chem.MolToSmiles(mol, isomericSmiles=isomeric)


def property_values(mol: Chem.Mol) -> tuple[float, float, float, float]:
    """``(logP, SA, QED, weight)`` of ``mol``: Crippen logP (Wildman & Crippen 1999), SA score (Ertl &
    Schuffenhauer 2009), QED (Bickerton et al. 2012) and average molecular weight in Da, the four
    properties of the MOSES Wasserstein-1 metrics (:func:`aae_core.chem.properties`)."""
    values = chem.properties(mol)
    return values["logP"], values["SA"], values["QED"], values["MW"]


def brics_fragments(mol: Chem.Mol) -> list[str]:
    """SMILES of the BRICS fragments of ``mol`` (Degen et al. 2008, ChemMedChem 3:1503), one entry per
    fragment occurrence, as MOSES ``fragmenter``: ``Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol))``
    split on ``.``, dummy atoms keeping their BRICS environment labels (e.g. ``[16*]c1ccccc1``)."""
    return Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split(".")


def murcko_scaffold(mol: Chem.Mol, min_rings: int = 2) -> str | None:
    """Canonical SMILES of the Bemis-Murcko scaffold (Bemis & Murcko 1996, J. Med. Chem. 39:2887) of
    ``mol``, or ``None`` when it is empty or has fewer than ``min_rings`` rings.

    ``min_rings=2`` is the MOSES default of ``compute_scaffolds``: molecules whose scaffold is a single
    ring (or acyclic) do not enter the Scaf metric.
    """
    try:
        scaffold = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    smiles = Chem.MolToSmiles(scaffold)
    if not smiles or scaffold.GetRingInfo().NumRings() < min_rings:
        return None
    return smiles


@dataclass(frozen=True)
class _FilterSet:
    queries: tuple[Chem.Mol, ...]
    # Pattern fingerprints of the queries, packed: shape (n_queries, 2048 / 64), dtype uint64.
    screens: np.ndarray


def _pattern_bits(mol: Chem.Mol) -> np.ndarray:
    bits = np.zeros(2048, dtype=np.uint8)
    DataStructs.ConvertToNumpyArray(Chem.PatternFingerprint(mol, fpSize=2048), bits)
    return np.packbits(bits).view(np.uint64)


@lru_cache(maxsize=1)
def _filter_set() -> _FilterSet:
    """The MOSES ``_filters``: the medicinal-chemistry filters ``mcf.csv`` (header ``names,smarts``) and
    the WEHI PAINS list ``wehi_pains.csv`` (Baell & Holloway 2010, J. Med. Chem. 53:2719; no header,
    columns ``smarts,names``) from ``assets/moses``, byte-identical to the files in ``molsets`` 0.3.1."""
    mcf = pd.read_csv(ASSETS / "mcf.csv")
    pains = pd.read_csv(ASSETS / "wehi_pains.csv", names=["smarts", "names"])
    smarts = list(mcf["smarts"]) + list(pains["smarts"])
    queries = tuple(chem.substructure_query(s) for s in smarts)
    screens = np.stack([_pattern_bits(q) for q in queries])
    return _FilterSet(queries, screens)


def passes_filters(mol: Chem.Mol | None, allowed: Iterable[str] = MOSES_ALLOWED_ATOMS, screen: bool = True) -> bool:
    """Whether ``mol`` passes the MOSES filters (``moses.metrics.utils.mol_passes_filters``).

    In MOSES order, a molecule fails if it has a ring of 8 or more atoms, any atom with a formal charge,
    any atom not in ``allowed`` (C, N, S, O, F, Cl, Br, H), any match of an MCF or PAINS SMARTS pattern on
    the molecule with explicit hydrogens, or a non-isomeric SMILES that is empty or does not parse back.

    Parameters
    ----------
    mol : rdkit.Chem.Mol or None
        ``None`` fails.
    allowed : iterable of str
        Allowed element symbols.
    screen : bool
        Skip a SMARTS pattern when its RDKit pattern fingerprint has a bit the molecule's lacks (the
        substructure screen of RDKit's ``SubstructLibrary``, which cannot reject a true match). Results
        are the same as with ``screen=False``, about 4x faster.
    """
    if mol is None:
        return False
    ring_info = mol.GetRingInfo()
    if ring_info.NumRings() != 0 and any(len(ring) >= 8 for ring in ring_info.AtomRings()):
        return False
    if any(atom.GetFormalCharge() != 0 for atom in mol.GetAtoms()):
        return False
    allowed = allowed if isinstance(allowed, (set, frozenset)) else frozenset(allowed)
    if any(atom.GetSymbol() not in allowed for atom in mol.GetAtoms()):
        return False
    h_mol = Chem.AddHs(mol)
    filters = _filter_set()
    if screen:
        mol_bits = _pattern_bits(h_mol)
        candidates = np.flatnonzero(~(filters.screens & ~mol_bits).any(axis=1))
        queries: Iterable[Chem.Mol] = (filters.queries[i] for i in candidates)
    else:
        queries = filters.queries
    if any(h_mol.HasSubstructMatch(query) for query in queries):
        return False
    smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
    return bool(smiles) and Chem.MolFromSmiles(smiles) is not None


@lru_cache(maxsize=1)
def _kl_calculator() -> MoleculeDescriptors.MolecularDescriptorCalculator:
    return MoleculeDescriptors.MolecularDescriptorCalculator(list(KL_DESCRIPTORS))


def kl_descriptor_values(mol: Chem.Mol) -> np.ndarray:
    """The nine GuacaMol physico-chemical descriptors (:data:`KL_DESCRIPTORS`) of ``mol``.

    Returns
    -------
    numpy.ndarray
        Shape ``(9,)``, dtype ``float64``; a non-finite value is replaced by 0 as in GuacaMol's
        ``_calculate_pc_descriptors``.
    """
    values = np.asarray(_kl_calculator().CalcDescriptors(mol), dtype=np.float64)
    values[~np.isfinite(values)] = 0.0
    return values


@dataclass(frozen=True)
class MoleculeFeatures:
    """Per-molecule inputs of the MOSES metrics for one canonical SMILES.

    Attributes
    ----------
    properties : tuple of float
        ``(logP, SA, QED, weight)``, see :func:`property_values`.
    fragments : tuple of str
        BRICS fragment SMILES, see :func:`brics_fragments`.
    scaffold : str or None
        Bemis-Murcko scaffold with at least two rings, see :func:`murcko_scaffold`.
    passes_filters : bool or None
        :func:`passes_filters`, ``None`` when not computed.
    """

    properties: tuple[float, float, float, float]
    fragments: tuple[str, ...]
    scaffold: str | None
    passes_filters: bool | None


def molecule_features(smiles: str, with_filters: bool = True) -> MoleculeFeatures | None:
    """:class:`MoleculeFeatures` of the molecule parsed from ``smiles`` (MOSES computes every metric on
    the molecules parsed from the canonical SMILES), or ``None`` if it does not parse."""
    mol = chem.mol_from_smiles(smiles)
    if mol is None:
        return None
    return MoleculeFeatures(
        properties=property_values(mol),
        fragments=tuple(brics_fragments(mol)),
        scaffold=murcko_scaffold(mol),
        passes_filters=passes_filters(mol) if with_filters else None,
    )


def _features_with_filters(smiles: str) -> MoleculeFeatures | None:
    return molecule_features(smiles, with_filters=True)


def _features_without_filters(smiles: str) -> MoleculeFeatures | None:
    return molecule_features(smiles, with_filters=False)


T = TypeVar("T")


def parallel_map(func: Callable[[str], T], items: Sequence[str], n_jobs: int = 1) -> list[T]:
    """``[func(x) for x in items]``, in ``n_jobs`` spawned worker processes when ``n_jobs > 1``
    (``n_jobs=-1``: one per CPU). ``func`` must be a module-level function. Workers are spawned (not
    forked: the parent may hold torch / OpenMP threads), so the calling script needs the usual
    ``if __name__ == "__main__":`` guard."""
    if n_jobs < 0:
        n_jobs = os.cpu_count() or 1
    if n_jobs <= 1 or len(items) < 2 * n_jobs:
        return [func(x) for x in items]
    chunksize = max(1, min(2000, len(items) // (8 * n_jobs)))
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=get_context("spawn")) as pool:
        return list(pool.map(func, items, chunksize=chunksize))


def features_of(smiles: Sequence[str], with_filters: bool, n_jobs: int = 1) -> list[MoleculeFeatures | None]:
    """:func:`molecule_features` of every SMILES, optionally in parallel."""
    func = _features_with_filters if with_filters else _features_without_filters
    return parallel_map(func, smiles, n_jobs)


def chemnet_statistics(
    smiles: Sequence[str],
    weights: np.ndarray | None = None,
    *,
    device: str | None = None,
    batch_size: int = 128,
    chunk_size: int = 8192,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the ChemNet penultimate-layer activations of ``smiles``.

    The statistics of the Fréchet ChemNet Distance (Preuer et al. 2018, "Fréchet ChemNet Distance: a
    metric for generative models for molecules in drug discovery", J. Chem. Inf. Model. 58:1736):
    activations from ``fcd.get_predictions`` with the ChemNet weights shipped in the ``fcd`` package,
    computed in chunks and accumulated in ``float64`` around a shift (the first chunk's mean) for
    numerical stability. With integer ``weights`` the result equals ``np.mean`` / ``np.cov`` of the list in
    which ``smiles[i]`` is repeated ``weights[i]`` times (``np.cov``'s ``fweights``, ``ddof=1``).

    Parameters
    ----------
    smiles : sequence of str
        Canonical SMILES (ChemNet was trained on RDKit canonical SMILES; MOSES canonicalises first).
    weights : numpy.ndarray, optional
        Shape ``(n,)``, multiplicity of each SMILES; default ones. Total weight must be at least 2.
    device : str, optional
        Torch device; default: CUDA when available, else CPU (``fcd``'s choice).
    batch_size : int
        ChemNet batch size.
    chunk_size : int
        SMILES per call to ``fcd.get_predictions`` (bounds memory).

    Returns
    -------
    mu : numpy.ndarray
        Shape ``(512,)``, dtype ``float64``.
    sigma : numpy.ndarray
        Shape ``(512, 512)``, dtype ``float64``.
    """
    import fcd  # imports torch: keep it out of module import time

    weights = np.ones(len(smiles)) if weights is None else np.asarray(weights, dtype=np.float64)
    total = float(weights.sum())
    if total < 2:
        raise ValueError(f"ChemNet statistics need at least 2 molecules, got {total:g}")
    model = fcd.load_ref_model()
    shift = None
    s1 = s2 = None
    for start in range(0, len(smiles), chunk_size):
        batch = list(smiles[start : start + chunk_size])
        with warnings.catch_warnings():
            # fcd warns when a SMILES is longer than its default padding and uses np.row_stack.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            act = fcd.get_predictions(model, batch, batch_size=batch_size, n_jobs=0, device=device)
        act = act.astype(np.float64)
        w = weights[start : start + chunk_size]
        if shift is None:
            shift = np.average(act, axis=0, weights=w)
            s1 = np.zeros_like(shift)
            s2 = np.zeros((act.shape[1], act.shape[1]))
        centred = act - shift
        s1 += w @ centred
        s2 += (centred * w[:, None]).T @ centred
        logger.debug("ChemNet activations: %d / %d SMILES", min(start + chunk_size, len(smiles)), len(smiles))
    mean_offset = s1 / total
    mu = shift + mean_offset
    sigma = (s2 - total * np.outer(mean_offset, mean_offset)) / (total - 1)
    return mu, (sigma + sigma.T) / 2
