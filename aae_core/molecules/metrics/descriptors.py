"""Per-molecule quantities behind the MOSES and GuacaMol metrics.

Everything here follows the ``molsets`` 0.3.1 code (Polykovskiy et al. 2020, "Molecular Sets (MOSES): a
benchmarking platform for molecular generation models", Front. Pharmacol. 11:565644,
``moses/metrics/utils.py``) or the ``guacamol`` code (Brown et al. 2019, "GuacaMol: benchmarking models
for de novo molecular design", J. Chem. Inf. Model. 59:1096, ``guacamol/utils/chemistry.py``), using
RDKit for the chemistry and the ``fcd`` package for ChemNet.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold
from rdkit.ML.Descriptors import MoleculeDescriptors

from aae_core.molecules import chem
from aae_core.molecules.metrics.parallel import PendingChunks, map_chunks, parallel_map, resolve_jobs
from aae_core.molecules.metrics.progress import Progress, report

__all__ = [
    "KL_DESCRIPTORS",
    "MOSES_ALLOWED_ATOMS",
    "PROPERTY_COLUMNS",
    "ChunkStatistics",
    "MoleculeFeatures",
    "brics_fragments",
    "canonical_smiles",
    "chemnet_activations",
    "chemnet_statistics",
    "chunk_statistics",
    "features_chunk",
    "features_of",
    "kl_chunk",
    "kl_descriptor_values",
    "molecule_features",
    "murcko_scaffold",
    "packed_fingerprints",
    "parallel_map",
    "passes_filters",
    "property_values",
]

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parents[3] / "assets" / "moses"

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
    properties of the MOSES Wasserstein-1 metrics (:func:`aae_core.molecules.chem.properties`)."""
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


def features_chunk(smiles: Sequence[str], with_filters: bool = True) -> list[MoleculeFeatures | None]:
    """:func:`molecule_features` of a chunk of SMILES (a worker-process task)."""
    return [molecule_features(s, with_filters) for s in smiles]


def features_of(smiles: Sequence[str], with_filters: bool, n_jobs: int = 1, *,
                progress: Progress | None = None, stage: str = "properties, fragments, scaffolds") -> list[
                    MoleculeFeatures | None]:
    """:func:`molecule_features` of every SMILES, in worker processes when ``n_jobs != 1``
    (:func:`~aae_core.molecules.metrics.parallel.map_chunks`), reporting ``stage`` to ``progress``."""
    parts = map_chunks(functools.partial(features_chunk, with_filters=with_filters), smiles, n_jobs,
                       progress=progress, stage=stage)
    return [f for part in parts for f in part]


@dataclass(frozen=True)
class ChunkStatistics:
    """What a reference set needs from a chunk of its distinct molecules (:func:`chunk_statistics`).

    Attributes
    ----------
    keep : numpy.ndarray
        Shape ``(n,)``, ``bool``: whether each SMILES parsed (the other statistics cover these rows only).
    properties : numpy.ndarray
        Shape ``(k, 4)``, ``float64``: :data:`PROPERTY_COLUMNS` of the kept molecules.
    fragments, scaffolds : collections.Counter
        BRICS fragment and Bemis-Murcko scaffold counts, each molecule weighted by its multiplicity.
    fingerprints : numpy.ndarray
        Shape ``(k, n_bits / 8)``, ``uint8``: ``np.packbits`` of the Morgan fingerprints of the kept molecules.
    """

    keep: np.ndarray
    properties: np.ndarray
    fragments: Counter
    scaffolds: Counter
    fingerprints: np.ndarray


def chunk_statistics(pairs: Sequence[tuple[str, int]], radius: int = 2, n_bits: int = 1024) -> ChunkStatistics:
    """:class:`ChunkStatistics` of ``(canonical SMILES, multiplicity)`` pairs: each molecule is parsed once and
    dropped right after, so memory stays that of one chunk (a worker-process task, see
    :func:`~aae_core.molecules.metrics.parallel.map_chunks`)."""
    keep = np.zeros(len(pairs), dtype=bool)
    properties, rows = [], []
    fragments: Counter[str] = Counter()
    scaffolds: Counter[str] = Counter()
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    for i, (smiles, count) in enumerate(pairs):
        mol = chem.mol_from_smiles(smiles)
        if mol is None:  # a canonical SMILES that does not parse back: left out (not seen in practice)
            continue
        keep[i] = True
        properties.append(property_values(mol))
        for fragment in brics_fragments(mol):
            fragments[fragment] += count
        scaffold = murcko_scaffold(mol)
        if scaffold is not None:
            scaffolds[scaffold] += count
        rows.append(np.packbits(generator.GetFingerprintAsNumPy(mol).astype(np.uint8)))
    bits = np.stack(rows) if rows else np.zeros((0, n_bits // 8), dtype=np.uint8)
    return ChunkStatistics(keep, np.array(properties, dtype=np.float64).reshape(-1, 4), fragments, scaffolds, bits)


def packed_fingerprints(smiles: Sequence[str], radius: int = 2, n_bits: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Morgan fingerprints of a chunk of SMILES, ``np.packbits``-ed (same bits as
    :func:`~aae_core.molecules.metrics.similarity.morgan_bits`).

    Returns
    -------
    keep : numpy.ndarray
        Shape ``(n,)``, ``bool``: whether each SMILES parsed.
    fingerprints : numpy.ndarray
        Shape ``(keep.sum(), n_bits / 8)``, ``uint8``.
    """
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    keep = np.zeros(len(smiles), dtype=bool)
    rows = []
    for i, s in enumerate(smiles):
        mol = chem.mol_from_smiles(s)
        if mol is not None:
            keep[i] = True
            rows.append(np.packbits(generator.GetFingerprintAsNumPy(mol).astype(np.uint8)))
    return keep, np.stack(rows) if rows else np.zeros((0, n_bits // 8), dtype=np.uint8)


def kl_chunk(smiles: Sequence[str], radius: int = 2, n_bits: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """GuacaMol KL inputs of a chunk of SMILES (a worker-process task); SMILES that do not parse are skipped.

    Returns
    -------
    descriptors : numpy.ndarray
        Shape ``(k, 9)``, ``float64``: :func:`kl_descriptor_values`.
    fingerprints : numpy.ndarray
        Shape ``(k, n_bits / 8)``, ``uint8``: packed Morgan fingerprints (GuacaMol: radius 2, 4096 bits).
    """
    mols = [m for s in smiles if (m := chem.mol_from_smiles(s)) is not None]
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    if not mols:
        return np.zeros((0, len(KL_DESCRIPTORS))), np.zeros((0, n_bits // 8), dtype=np.uint8)
    values = np.stack([kl_descriptor_values(m) for m in mols])
    bits = np.stack([np.packbits(generator.GetFingerprintAsNumPy(m).astype(np.uint8)) for m in mols])
    return values, bits


#: fcd's default padding of the one-hot SMILES (``SmilesDataset``): longer SMILES pad their whole call further.
FCD_PAD = 350


def chemnet_statistics(
    smiles: Sequence[str],
    weights: np.ndarray | None = None,
    *,
    device: str | None = None,
    batch_size: int = 128,
    chunk_size: int = 8192,
    n_jobs: int = 1,
    progress: Progress | None = None,
    stage: str = "ChemNet activations",
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the ChemNet penultimate-layer activations of ``smiles``.

    The statistics of the Fréchet ChemNet Distance (Preuer et al. 2018, "Fréchet ChemNet Distance: a
    metric for generative models for molecules in drug discovery", J. Chem. Inf. Model. 58:1736):
    activations as ``fcd.get_predictions`` computes them (:func:`chemnet_activations`) with the ChemNet weights
    shipped in the ``fcd`` package, accumulated chunk by chunk in ``float64`` around a shift (the first chunk's
    mean) for numerical stability. With integer ``weights`` the result equals ``np.mean`` / ``np.cov`` of the
    list in which ``smiles[i]`` is repeated ``weights[i]`` times (``np.cov``'s ``fweights``, ``ddof=1``).
    Memory: one chunk of activations, ``chunk_size x 512`` ``float64`` (32 MB), and one batch of one-hot input.

    On the CPU with ``n_jobs != 1`` the batches are computed in worker processes and in this one (tasks of a few
    batches, each padded as its whole chunk would be): the same batches give the same activations, bit for bit,
    whichever process or thread count computes them.

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
        SMILES per accumulation step (and per padding length: ``fcd`` pads a call's SMILES to the longest).
    n_jobs : int
        Worker processes (see :mod:`aae_core.molecules.metrics.parallel`); CPU only.
    progress : callable, optional
        Reports ``stage`` as tasks finish (:mod:`aae_core.molecules.metrics.progress`).

    Returns
    -------
    mu : numpy.ndarray
        Shape ``(512,)``, dtype ``float64``.
    sigma : numpy.ndarray
        Shape ``(512, 512)``, dtype ``float64``.

    Raises
    ------
    ValueError
        If the total weight is below 2.
    """
    import torch

    weights = np.ones(len(smiles)) if weights is None else np.asarray(weights, dtype=np.float64)
    total = float(weights.sum())
    if total < 2:
        raise ValueError(f"ChemNet statistics need at least 2 molecules, got {total:g}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    workers = resolve_jobs(n_jobs) if torch.device(device).type == "cpu" else 1
    tasks = _chemnet_tasks(smiles, batch_size, chunk_size, workers, device)
    shift = s1 = s2 = None
    report(progress, stage, 0, len(smiles))
    done, parts = 0, []
    for (task,), (act,) in PendingChunks(chemnet_activations, tasks, workers, chunk=1).outputs():
        parts.append(act)
        done += len(task[0])
        report(progress, stage, done, len(smiles))
        if done % chunk_size and done != len(smiles):
            continue
        act = np.concatenate(parts).astype(np.float64)  # one accumulation chunk
        parts = []
        w = weights[done - len(act) : done]
        if shift is None:
            shift = np.average(act, axis=0, weights=w)
            s1 = np.zeros_like(shift)
            s2 = np.zeros((act.shape[1], act.shape[1]))
        centred = act - shift
        s1 += w @ centred
        s2 += (centred * w[:, None]).T @ centred
    mean_offset = s1 / total
    mu = shift + mean_offset
    sigma = (s2 - total * np.outer(mean_offset, mean_offset)) / (total - 1)
    return mu, (sigma + sigma.T) / 2


def _chemnet_tasks(smiles: Sequence[str], batch_size: int, chunk_size: int, workers: int,
                   device: str) -> list[tuple[list[str], int | None, int, str]]:
    """``(SMILES, padding, batch size, device)`` tasks of whole batches that tile every accumulation chunk, about
    four per worker (at most eight batches each; four batches in this process alone, for progress)."""
    batches = 4 if workers <= 1 else min(8, max(1, -(-len(smiles) // (4 * workers * batch_size))))
    tasks = []
    for start in range(0, len(smiles), chunk_size):
        chunk = list(smiles[start : start + chunk_size])
        longest = max(map(len, chunk)) + 1  # fcd: plus one for the end token
        pad = None if longest <= FCD_PAD else longest  # as fcd pads the whole call
        step = batches * batch_size
        tasks += [(chunk[i : i + step], pad, batch_size, device) for i in range(0, len(chunk), step)]
    return tasks


def chemnet_activations(tasks: Sequence[tuple[list[str], int | None, int, str]]) -> list[np.ndarray]:
    """ChemNet activations of ``(SMILES, padding, batch size, device)`` tasks (a worker-process task): for each,
    what ``fcd.get_predictions(model, smiles, batch_size, n_jobs=0, device)`` (fcd 1.2) computes, batch for
    batch, with ``SmilesDataset``'s padding set to ``padding`` (``None``: fcd's default). Each array has shape
    ``(len(SMILES), 512)``, ``float32``."""
    import fcd
    import torch
    from fcd.utils import SmilesDataset, todevice
    from torch.utils.data import DataLoader

    model = fcd.load_ref_model()
    outputs = []
    for smiles, pad, batch_size, device in tasks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # fcd warns when the padding is not its default
            loader = DataLoader(SmilesDataset(smiles, pad_len=pad), batch_size=batch_size, num_workers=0)
        parts = []
        with todevice(model, device), torch.no_grad():
            for batch in loader:
                out = model(batch.transpose(1, 2).float().to(device))
                parts.append(out.to("cpu").detach().numpy().astype(np.float32))
        outputs.append(np.concatenate(parts) if parts else np.zeros((0, 512), dtype=np.float32))
    return outputs
