"""Reference sets for the generation metrics, their statistics, and an on-disk cache of them.

A :class:`ReferenceSet` holds everything the metrics need from the reference molecules (by default the
MOSES test split shipped in ``assets/moses/test.csv.gz``, 176,074 molecules): ChemNet activation mean and
covariance (FCD), Morgan fingerprints (SNN), BRICS fragment and Bemis-Murcko scaffold counts (Frag,
Scaf), logP / SA / QED / weight values (Wasserstein-1 distances) and GuacaMol's KL-divergence reference
distributions. Computing them for the MOSES test split takes about 20 minutes on one CPU core (mostly
ChemNet and the SA / QED properties), so they are computed once per reference set and cached.

Cache: one ``reference-<key>.npz`` per reference set (``numpy.savez_compressed``, read back with
``allow_pickle=False``; no pickle anywhere) in :func:`cache_dir` (``$AAE_LAB_CACHE`` if set, else
``$XDG_CACHE_HOME/aae-lab`` or ``~/.cache/aae-lab``), where ``key`` is a SHA-256 of the sorted input
SMILES together with the cache format version and the RDKit and ``fcd`` versions (a new RDKit can change
canonical SMILES and descriptor values). Files are written to a temporary file in the same directory and
moved into place with :func:`os.replace`, so readers never see a partial file. Canonicalised training
sets for Novelty are cached the same way (``train-<key>.npz``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Literal

import numpy as np
import rdkit

from aae_core import chem
from aae_core.checkpoints import atomic_output
from aae_core.data.molecules import read_smiles_list
from aae_core.exceptions import DataError, OutputError
from aae_core.metrics import descriptors as desc
from aae_core.metrics.similarity import morgan_bits, tanimoto_max

__all__ = [
    "KL_REFERENCE_SIZE",
    "ReferenceSet",
    "cache_dir",
    "canonical_training_set",
    "compute_reference",
    "kl_reference_statistics",
    "load_reference",
    "moses_smiles",
    "read_smiles",
]

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
#: Size of the random reference subset for GuacaMol's KL-divergence score (GuacaMol uses 10,000).
KL_REFERENCE_SIZE = 10_000
#: Seed of that subset (GuacaMol's ``get_random_subset(..., seed=42)``).
KL_REFERENCE_SEED = 42
#: Morgan fingerprint settings: MOSES (SNN, IntDiv) and GuacaMol (internal similarity).
MOSES_FP = {"radius": 2, "n_bits": 1024}
GUACAMOL_FP = {"radius": 2, "n_bits": 4096}

MOSES_SPLITS = ("train", "test", "test_scaffolds")
MosesSplit = Literal["train", "test", "test_scaffolds"]


def cache_dir() -> Path:
    """Directory of the metrics cache: ``$AAE_LAB_CACHE``, else ``$XDG_CACHE_HOME/aae-lab``, else
    ``~/.cache/aae-lab`` (created on first write)."""
    if os.environ.get("AAE_LAB_CACHE"):
        return Path(os.environ["AAE_LAB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "aae-lab"


def _versions() -> str:
    try:
        fcd_version = metadata.version("fcd")
    except metadata.PackageNotFoundError:  # pragma: no cover - fcd is a dependency
        fcd_version = "none"
    return f"aae-lab-metrics-cache-v{CACHE_VERSION};rdkit={rdkit.__version__};fcd={fcd_version}"


def _key(kind: str, smiles: Iterable[str | None]) -> str:
    digest = hashlib.sha256(f"{kind};{_versions()}\n".encode())
    digest.update("\n".join(sorted(s if isinstance(s, str) else "" for s in smiles)).encode())
    return digest.hexdigest()


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def _load_npz(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as error:  # corrupt or foreign file: recompute
        logger.warning("ignoring unreadable cache file %s (%s)", path, error)
        return None


# --------------------------------------------------------------------------------------------------
# Reading SMILES


def moses_smiles(split: MosesSplit = "test") -> list[str]:
    """SMILES of a MOSES split shipped in ``assets/moses``.

    ``"train"`` is a 250,000-molecule random cut of the 1,584,663-molecule MOSES train split (see
    ``assets/make_moses_cut.py``); ``"test"`` (176,074) and ``"test_scaffolds"`` (176,226) are complete.
    """
    if split not in MOSES_SPLITS:
        raise DataError(f"unknown MOSES split {split!r}; use one of {', '.join(MOSES_SPLITS)}")
    return read_smiles(desc.ASSETS / f"{split}.csv.gz")


def read_smiles(path: str | os.PathLike[str], column: str | None = None) -> list[str]:
    """SMILES from a file, as they are (not canonicalised), read by
    :func:`aae_core.data.molecules.read_smiles_list`: bounded in size and line length before any parser sees
    them; blank rows, SMILES over :data:`aae_core.chem.MAX_SMILES_CHARS` characters and unreadable SDF records
    are left out (with a warning saying how many, unless only blank rows were).

    ``.csv`` / ``.tsv`` (optionally ``.gz``): the column ``column``, else the first of ``smiles`` /
    ``SMILES`` / ``Smiles`` / ``canonical_smiles`` / ``smi``, else the only column. ``.smi`` / ``.txt``
    (optionally ``.gz``): the first whitespace-separated word of each line, skipping a header line ``SMILES``
    / ``smiles``. ``.sdf``: one SMILES per record.

    Raises
    ------
    DataError
        If the file is missing, unreadable, of an unknown type, has no SMILES, or lacks the requested column.
    """
    path = Path(path)
    if not _is_file(path):
        raise DataError(f"SMILES file {str(path)[:200]!r} not found; pass an existing .csv, .csv.gz, .smi or .sdf file")
    smiles, report = read_smiles_list(path, column)
    if sum(report.rejected.values()) > report.rejected["empty"]:
        warnings.warn(f"left out of {report.summary()}", stacklevel=2)
    return smiles


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a name too long to be a path
        return False


def _as_smiles_list(source: Sequence[str] | str | os.PathLike[str] | None) -> tuple[list[str], str]:
    if source is None:
        return moses_smiles("test"), "MOSES test"
    if isinstance(source, (str, os.PathLike)):
        return read_smiles(source), Path(source).name
    smiles = list(source)
    if not smiles:
        raise DataError("the reference set is empty; pass at least two SMILES")
    return smiles, f"{len(smiles)} SMILES"


# --------------------------------------------------------------------------------------------------
# Reference statistics


def kl_reference_statistics(smiles: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """GuacaMol KL-divergence statistics of a set of molecules (Brown et al. 2019, ``KLDivBenchmark``).

    The SMILES are canonicalised without stereochemistry and de-duplicated (in first-seen order), as
    GuacaMol's ``canonicalize_list(..., include_stereocenters=False)``.

    Parameters
    ----------
    smiles : sequence of str
        Molecules; invalid ones are skipped.

    Returns
    -------
    descriptors : numpy.ndarray
        Shape ``(n, 9)``, dtype ``float64``: :data:`~aae_core.metrics.descriptors.KL_DESCRIPTORS`.
    internal_similarity : numpy.ndarray
        Shape ``(n,)``, dtype ``float64``: for each molecule the largest Tanimoto similarity (Morgan radius
        2, 4096 bits, as GuacaMol's ``get_fingerprints``) to any other molecule of the set.
    """
    unique = list(dict.fromkeys(c for s in smiles if (c := desc.canonical_smiles(s, isomeric=False))))
    mols = [m for s in unique if (m := chem.mol_from_smiles(s)) is not None]
    if not mols:
        return np.zeros((0, len(desc.KL_DESCRIPTORS))), np.zeros(0)
    values = np.stack([desc.kl_descriptor_values(m) for m in mols])
    bits = morgan_bits(mols, **GUACAMOL_FP)
    similarity = tanimoto_max(bits, bits, exclude_diagonal=True) if len(mols) > 1 else np.zeros(1)
    return values, similarity


@dataclass(frozen=True, eq=False)
class ReferenceSet:
    """Precomputed statistics of a reference set of molecules (see the module docstring).

    The reference multiset is stored as its ``n_unique`` distinct canonical molecules (sorted by
    canonical SMILES) with multiplicities ``counts``; every statistic weights molecules by ``counts``, so
    results equal MOSES's on the list with duplicates.

    Attributes
    ----------
    name : str
        Label for tables and logs.
    key : str
        SHA-256 cache key (see :func:`cache_dir`).
    n_input : int
        Number of SMILES given.
    n_invalid : int
        How many of them did not parse (they are left out of every statistic).
    counts : numpy.ndarray
        Shape ``(n_unique,)``, ``int64``: multiplicity of each distinct molecule.
    fingerprints : numpy.ndarray
        Shape ``(n_unique, 128)``, ``uint8``: Morgan radius-2 1024-bit fingerprints, ``np.packbits``-ed.
    fcd_mu, fcd_sigma : numpy.ndarray
        Shapes ``(512,)`` and ``(512, 512)``, ``float64``: ChemNet activation mean and covariance
        (``nan`` when fewer than two molecules).
    properties : numpy.ndarray
        Shape ``(n_unique, 4)``, ``float64``: logP, SA, QED, weight (:data:`PROPERTY_COLUMNS`).
    fragments, scaffolds : dict of str to int
        BRICS fragment and two-or-more-ring Bemis-Murcko scaffold counts (multiplicities included).
    kl_descriptors : numpy.ndarray
        Shape ``(m, 9)``, ``float64``: GuacaMol descriptors of a random subset of at most
        :data:`KL_REFERENCE_SIZE` distinct molecules (stereo removed).
    kl_internal_similarity : numpy.ndarray
        Shape ``(m,)``, ``float64``: nearest-neighbour Tanimoto similarity within that subset.
    from_cache : bool
        Whether the statistics were read from the disk cache.
    """

    name: str
    key: str
    n_input: int
    n_invalid: int
    counts: np.ndarray
    fingerprints: np.ndarray
    fcd_mu: np.ndarray
    fcd_sigma: np.ndarray
    properties: np.ndarray
    fragments: dict[str, int]
    scaffolds: dict[str, int]
    kl_descriptors: np.ndarray
    kl_internal_similarity: np.ndarray
    from_cache: bool = field(default=False, compare=False)

    @property
    def n_molecules(self) -> int:
        """Number of valid reference molecules, duplicates included."""
        return int(self.counts.sum())

    @property
    def n_unique(self) -> int:
        """Number of distinct valid reference molecules."""
        return len(self.counts)

    @cached_property
    def fingerprint_bits(self) -> np.ndarray:
        """Unpacked :attr:`fingerprints`: shape ``(n_unique, 1024)``, ``uint8`` 0/1."""
        return np.unpackbits(self.fingerprints, axis=1, count=MOSES_FP["n_bits"])

    def __repr__(self) -> str:
        return (
            f"ReferenceSet(name={self.name!r}, molecules={self.n_molecules}, unique={self.n_unique}, "
            f"invalid={self.n_invalid}, key={self.key[:12]}, from_cache={self.from_cache})"
        )

    # -- (de)serialisation ------------------------------------------------------------------------

    def _arrays(self) -> dict[str, np.ndarray]:
        meta = {
            "name": self.name,
            "key": self.key,
            "n_input": self.n_input,
            "n_invalid": self.n_invalid,
            "versions": _versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        return {
            "meta": np.array(json.dumps(meta)),
            "counts": self.counts,
            "fingerprints": self.fingerprints,
            "fcd_mu": self.fcd_mu,
            "fcd_sigma": self.fcd_sigma,
            "properties": self.properties,
            "fragment_names": np.array(list(self.fragments), dtype=str),
            "fragment_counts": np.array(list(self.fragments.values()), dtype=np.int64),
            "scaffold_names": np.array(list(self.scaffolds), dtype=str),
            "scaffold_counts": np.array(list(self.scaffolds.values()), dtype=np.int64),
            "kl_descriptors": self.kl_descriptors,
            "kl_internal_similarity": self.kl_internal_similarity,
        }

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray], name: str | None) -> ReferenceSet:
        meta = json.loads(str(arrays["meta"]))
        return cls(
            name=name or meta["name"],
            key=meta["key"],
            n_input=int(meta["n_input"]),
            n_invalid=int(meta["n_invalid"]),
            counts=arrays["counts"],
            fingerprints=arrays["fingerprints"],
            fcd_mu=arrays["fcd_mu"],
            fcd_sigma=arrays["fcd_sigma"],
            properties=arrays["properties"],
            fragments=dict(zip(arrays["fragment_names"].tolist(), arrays["fragment_counts"].tolist(), strict=True)),
            scaffolds=dict(zip(arrays["scaffold_names"].tolist(), arrays["scaffold_counts"].tolist(), strict=True)),
            kl_descriptors=arrays["kl_descriptors"],
            kl_internal_similarity=arrays["kl_internal_similarity"],
            from_cache=True,
        )


def compute_reference(
    smiles: Sequence[str],
    name: str = "reference",
    *,
    n_jobs: int = 1,
    device: str | None = None,
    kl_size: int = KL_REFERENCE_SIZE,
) -> ReferenceSet:
    """Compute the statistics of a reference set (no cache; see :func:`load_reference`).

    Parameters
    ----------
    smiles : sequence of str
        Reference molecules. Invalid entries are counted in ``n_invalid`` and left out, with a warning.
    name : str
        Label.
    n_jobs : int
        Worker processes for the per-molecule RDKit work (ChemNet runs in this process).
    device : str, optional
        Torch device for ChemNet.
    kl_size : int
        Size of the random subset for the KL-divergence statistics.

    Raises
    ------
    DataError
        If fewer than one SMILES is valid.
    """
    start = time.perf_counter()
    smiles = list(smiles)
    canonical = desc.parallel_map(desc.canonical_smiles, smiles, n_jobs)
    valid = [c for c in canonical if c is not None]
    n_invalid = len(smiles) - len(valid)
    if not valid:
        raise DataError(f"none of the {len(smiles)} reference SMILES is a valid molecule")
    if n_invalid:
        warnings.warn(f"{n_invalid} of {len(smiles)} reference SMILES are invalid and left out", stacklevel=2)
    unique_arr, counts = np.unique(np.array(valid, dtype=object).astype(str), return_counts=True)
    unique = unique_arr.tolist()
    counts = counts.astype(np.int64)
    logger.info(
        "reference %s: %d valid (%d unique) of %d SMILES, canonicalised in %.1f s",
        name,
        len(valid),
        len(unique),
        len(smiles),
        time.perf_counter() - start,
    )

    t = time.perf_counter()
    features = desc.features_of(unique, with_filters=False, n_jobs=n_jobs)
    keep = np.array([f is not None for f in features])
    if not keep.all():  # a canonical SMILES that does not parse back: drop it
        unique = [s for s, k in zip(unique, keep, strict=True) if k]
        counts = counts[keep]
        features = [f for f in features if f is not None]
    properties = np.array([f.properties for f in features], dtype=np.float64).reshape(-1, 4)
    fragments: Counter[str] = Counter()
    scaffolds: Counter[str] = Counter()
    for f, n in zip(features, counts.tolist(), strict=True):
        for fragment in f.fragments:
            fragments[fragment] += n
        if f.scaffold is not None:
            scaffolds[f.scaffold] += n
    logger.info("reference %s: properties, fragments, scaffolds in %.1f s", name, time.perf_counter() - t)

    t = time.perf_counter()
    mols = [chem.mol_from_smiles(s) for s in unique]
    fingerprints = np.packbits(morgan_bits(mols, **MOSES_FP), axis=1)
    logger.info("reference %s: fingerprints in %.1f s", name, time.perf_counter() - t)

    t = time.perf_counter()
    if counts.sum() >= 2:
        fcd_mu, fcd_sigma = desc.chemnet_statistics(unique, counts, device=device)
    else:
        fcd_mu, fcd_sigma = np.full(512, np.nan), np.full((512, 512), np.nan)
    logger.info("reference %s: ChemNet statistics in %.1f s", name, time.perf_counter() - t)

    t = time.perf_counter()
    rng = np.random.RandomState(KL_REFERENCE_SEED)
    subset = unique if len(unique) <= kl_size else [unique[i] for i in rng.choice(len(unique), kl_size, replace=False)]
    kl_values, kl_similarity = kl_reference_statistics(subset)
    logger.info("reference %s: KL statistics in %.1f s", name, time.perf_counter() - t)

    reference = ReferenceSet(
        name=name,
        key=_key("reference", smiles),
        n_input=len(smiles),
        n_invalid=n_invalid,
        counts=counts,
        fingerprints=fingerprints,
        fcd_mu=fcd_mu,
        fcd_sigma=fcd_sigma,
        properties=properties,
        fragments=dict(sorted(fragments.items())),
        scaffolds=dict(sorted(scaffolds.items())),
        kl_descriptors=kl_values,
        kl_internal_similarity=kl_similarity,
    )
    logger.info("reference %s computed in %.1f s", name, time.perf_counter() - start)
    return reference


def load_reference(
    source: Sequence[str] | str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
    use_cache: bool = True,
    n_jobs: int = 1,
    device: str | None = None,
) -> ReferenceSet:
    """Reference set statistics, read from the disk cache or computed and cached.

    Parameters
    ----------
    source : sequence of str, path, or None
        ``None``: the shipped MOSES test split (:func:`moses_smiles`); a path: a SMILES file
        (:func:`read_smiles`); otherwise a sequence of SMILES. Use ``moses_smiles("test_scaffolds")`` for
        the MOSES scaffold test split.
    name : str, optional
        Label (default: ``"MOSES test"``, the file name, or ``"<n> SMILES"``).
    use_cache : bool
        Read and write the cache (``False``: always compute, write nothing).
    n_jobs, device
        See :func:`compute_reference`.

    Raises
    ------
    DataError
        If the file is missing or unreadable, or no SMILES is valid.
    """
    smiles, default_name = _as_smiles_list(source)
    name = name or default_name
    if not use_cache:
        return compute_reference(smiles, name, n_jobs=n_jobs, device=device)
    key = _key("reference", smiles)
    path = cache_dir() / f"reference-{key[:32]}.npz"
    arrays = _load_npz(path)
    if arrays is not None and "meta" in arrays and json.loads(str(arrays["meta"])).get("key") == key:
        logger.info("reference %s: loaded from %s", name, path)
        return ReferenceSet._from_arrays(arrays, name)
    reference = compute_reference(smiles, name, n_jobs=n_jobs, device=device)
    try:
        _atomic_savez(path, reference._arrays())
        logger.info("reference %s: cached to %s", name, path)
    except (OSError, OutputError) as error:
        warnings.warn(f"could not write the metrics cache {path}: {error}", stacklevel=2)
    return reference


def canonical_training_set(
    source: Sequence[str] | str | os.PathLike[str] | None = None,
    *,
    use_cache: bool = True,
    n_jobs: int = 1,
) -> frozenset[str]:
    """Canonical SMILES of a training set, for Novelty (cached like reference sets).

    Parameters
    ----------
    source : sequence of str, path, or None
        ``None``: the shipped 250,000-molecule MOSES train cut; a path: a SMILES file; else SMILES.
    use_cache : bool
        Read and write ``train-<key>.npz`` in :func:`cache_dir`.
    n_jobs : int
        Worker processes for canonicalisation.
    """
    if source is None:
        smiles = moses_smiles("train")
    elif isinstance(source, (str, os.PathLike)):
        smiles = read_smiles(source)
    else:
        smiles = list(source)
    if not smiles:
        return frozenset()
    key = _key("train", smiles)
    path = cache_dir() / f"train-{key[:32]}.npz"
    if use_cache:
        arrays = _load_npz(path)
        if arrays is not None and "key" in arrays and str(arrays["key"]) == key:
            return frozenset(arrays["smiles"].tolist())
    start = time.perf_counter()
    canonical = sorted({c for c in desc.parallel_map(desc.canonical_smiles, smiles, n_jobs) if c is not None})
    logger.info("training set: %d SMILES canonicalised in %.1f s", len(smiles), time.perf_counter() - start)
    if use_cache:
        try:
            _atomic_savez(path, {"key": np.array(key), "smiles": np.array(canonical, dtype=str)})
        except (OSError, OutputError) as error:
            warnings.warn(f"could not write the metrics cache {path}: {error}", stacklevel=2)
    return frozenset(canonical)
