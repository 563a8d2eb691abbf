"""Reference sets for the generation metrics, their statistics, the shipped statistics and an on-disk cache.

A :class:`ReferenceSet` holds everything the metrics need from the reference molecules (by default the MOSES
test split shipped in ``assets/moses/test.csv.gz``, 176,074 molecules): ChemNet activation mean and covariance
(FCD), Morgan fingerprints (SNN), BRICS fragment and Bemis-Murcko scaffold counts (Frag, Scaf), the
distributions of logP / SA / QED / weight (Wasserstein-1 distances) and GuacaMol's KL-divergence reference
distributions. Computing them for the MOSES test split takes about 15 CPU-minutes (mostly ChemNet and the SA /
QED properties), in chunks, in worker processes, with progress, and never more than a chunk of RDKit molecules
in memory.

Shipped statistics: for the MOSES ``test`` and ``test_scaffolds`` splits, everything but the fingerprints is
shipped in ``assets/moses/<split>_stats.npz`` (made by ``assets/make_reference_stats.py``; see
``assets/README.md``), together with the canonical SMILES that differ from the shipped ones; the fingerprints
are computed on first use (about 20 CPU-seconds) and the complete set is then cached. The canonical MOSES train
cut for Novelty ships the same way (``assets/moses/train_canonical.npz``). Shipped files are read with
``allow_pickle=False``. With another RDKit or ``fcd`` version than the one that made them, the shipped
statistics are still used, with a :class:`UserWarning` and a note in :attr:`ReferenceSet.notes` (differences
are in the fourth decimal at most, below the spread between training runs), the canonical SMILES are
recomputed, and ``load_reference(..., shipped=False)`` rebuilds everything with the installed versions.

Cache: one ``reference-<key>.npz`` per reference set (``numpy.savez_compressed``, read back with
``allow_pickle=False``; no pickle anywhere) in :func:`cache_dir` (``$AAE_LAB_CACHE`` if set, else
``$XDG_CACHE_HOME/aae-lab`` or ``~/.cache/aae-lab``), where ``key`` is a SHA-256 of the sorted input SMILES
together with the cache format version and the RDKit and ``fcd`` versions (a new RDKit can change canonical
SMILES and descriptor values). Files are written to a temporary file in the same directory and moved into
place with :func:`os.replace`, so readers never see a partial file. Canonicalised training sets for Novelty
are cached the same way (``train-<key>.npz``).
"""

from __future__ import annotations

import functools
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

from aae_core.checkpoints import atomic_output
from aae_core.exceptions import DataError, OutputError
from aae_core.molecules.data import read_smiles_list
from aae_core.molecules.metrics import descriptors as desc
from aae_core.molecules.metrics.parallel import PendingChunks, map_chunks, parallel_map
from aae_core.molecules.metrics.progress import Progress
from aae_core.molecules.metrics.similarity import tanimoto_max

__all__ = [
    "KL_REFERENCE_SIZE",
    "SHIPPED_CANONICAL",
    "SHIPPED_STATS",
    "ReferenceSet",
    "cache_dir",
    "canonical_training_set",
    "compute_reference",
    "kl_reference_statistics",
    "load_reference",
    "moses_smiles",
    "read_smiles",
    "versions",
    "write_shipped_canonical",
    "write_shipped_statistics",
]

logger = logging.getLogger(__name__)

#: Version of the cache and shipped-file layout (2: property distributions, UTF-8 name lists, packed covariance).
CACHE_VERSION = 2
#: Size of the random reference subset for GuacaMol's KL-divergence score (GuacaMol uses 10,000).
KL_REFERENCE_SIZE = 10_000
#: Seed of that subset (GuacaMol's ``get_random_subset(..., seed=42)``).
KL_REFERENCE_SEED = 42
#: Morgan fingerprint settings: MOSES (SNN, IntDiv) and GuacaMol (internal similarity).
MOSES_FP = {"radius": 2, "n_bits": 1024}
GUACAMOL_FP = {"radius": 2, "n_bits": 4096}

MOSES_SPLITS = ("train", "test", "test_scaffolds")
MosesSplit = Literal["train", "test", "test_scaffolds"]

#: Shipped reference statistics, by MOSES split (see the module docstring).
SHIPPED_STATS = {split: desc.ASSETS / f"{split}_stats.npz" for split in ("test", "test_scaffolds")}
#: Shipped canonical SMILES of the MOSES train cut (as the SMILES that differ from the shipped ones).
SHIPPED_CANONICAL = desc.ASSETS / "train_canonical.npz"


def cache_dir() -> Path:
    """Directory of the metrics cache: ``$AAE_LAB_CACHE``, else ``$XDG_CACHE_HOME/aae-lab``, else
    ``~/.cache/aae-lab`` (created on first write)."""
    if os.environ.get("AAE_LAB_CACHE"):
        return Path(os.environ["AAE_LAB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "aae-lab"


def versions() -> dict[str, str]:
    """Versions the statistics depend on: ``{"rdkit": ..., "fcd": ..., "cache": ...}``."""
    try:
        fcd_version = metadata.version("fcd")
    except metadata.PackageNotFoundError:  # pragma: no cover - fcd is a dependency
        fcd_version = "none"
    return {"rdkit": rdkit.__version__, "fcd": fcd_version, "cache": str(CACHE_VERSION)}


def _versions() -> str:
    v = versions()
    return f"aae-lab-metrics-cache-v{v['cache']};rdkit={v['rdkit']};fcd={v['fcd']}"


def _content_hash(smiles: Iterable[str | None]) -> str:
    """SHA-256 of the sorted SMILES (order-independent, version-independent)."""
    text = "\n".join(sorted(s if isinstance(s, str) else "" for s in smiles))
    return hashlib.sha256(text.encode()).hexdigest()


def _key(kind: str, content: str) -> str:
    return hashlib.sha256(f"{kind};{_versions()};{content}".encode()).hexdigest()


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def _load_npz(path: Path, names: Sequence[str] | None = None) -> dict[str, np.ndarray] | None:
    """Arrays of an ``.npz`` file (only ``names`` if given), read without pickle; ``None`` if missing or
    unreadable (with a log line)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in (names or data.files)}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as error:  # corrupt or foreign file: recompute
        logger.warning("ignoring unreadable file %s (%s)", path, error)
        return None


def _text_array(names: Iterable[str]) -> np.ndarray:
    """Strings (without newlines) as one ``uint8`` array of their UTF-8, each followed by ``\n`` (no pickle, no
    fixed-width padding)."""
    return np.frombuffer("".join(f"{name}\n" for name in names).encode(), dtype=np.uint8)


def _text_list(array: np.ndarray) -> list[str]:
    """Inverse of :func:`_text_array`."""
    return array.tobytes().decode().split("\n")[:-1]


def _meta(arrays: dict[str, np.ndarray]) -> dict:
    return json.loads(str(arrays["meta"]))


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
    :func:`aae_core.molecules.data.read_smiles_list`: bounded in size and line length before any parser sees
    them; blank rows, SMILES over :data:`aae_core.molecules.chem.MAX_SMILES_CHARS` characters and unreadable SDF records
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
# Canonical SMILES


def _canonical(smiles: Sequence[str], n_jobs: int, progress: Progress | None, stage: str) -> list[str | None]:
    return parallel_map(desc.canonical_smiles, smiles, n_jobs, progress=progress, stage=stage)


def _unique_valid(smiles: Sequence[str], canonical: Sequence[str | None]) -> tuple[list[str], np.ndarray, int]:
    """Sorted distinct valid canonical SMILES, their multiplicities (``int64``) and the number of invalid inputs.

    Raises
    ------
    DataError
        If none is valid.
    """
    valid = [c for c in canonical if c is not None]
    n_invalid = len(smiles) - len(valid)
    if not valid:
        raise DataError(f"none of the {len(smiles)} reference SMILES is a valid molecule")
    if n_invalid:
        warnings.warn(f"{n_invalid} of {len(smiles)} reference SMILES are invalid and left out", stacklevel=3)
    unique, counts = np.unique(np.array(valid, dtype=object).astype(str), return_counts=True)
    return unique.tolist(), counts.astype(np.int64), n_invalid


def _canonical_fixes(smiles: Sequence[str], canonical: Sequence[str | None]) -> dict[str, np.ndarray]:
    """The inputs whose canonical SMILES differ from them, as :func:`_text_array` arrays ``fix_from`` (input)
    and ``fix_to`` (canonical SMILES; empty for an invalid input), sorted and without repeats."""
    fixes = sorted({s: c or "" for s, c in zip(smiles, canonical, strict=True) if s != c}.items())
    return {"fix_from": _text_array(s for s, _ in fixes), "fix_to": _text_array(c for _, c in fixes)}


def _apply_fixes(smiles: Sequence[str], arrays: dict[str, np.ndarray]) -> list[str | None]:
    """Canonical SMILES of ``smiles`` (``None`` where invalid) from shipped :func:`_canonical_fixes`."""
    fixes = dict(zip(_text_list(arrays["fix_from"]), _text_list(arrays["fix_to"]), strict=True))
    return [fixes.get(s, s) or None for s in smiles]


# --------------------------------------------------------------------------------------------------
# Reference statistics


def kl_reference_statistics(smiles: Sequence[str], n_jobs: int = 1, *, progress: Progress | None = None,
                            stage: str = "KL descriptors") -> tuple[np.ndarray, np.ndarray]:
    """GuacaMol KL-divergence statistics of a set of molecules (Brown et al. 2019, ``KLDivBenchmark``).

    The SMILES are canonicalised without stereochemistry and de-duplicated (in first-seen order), as
    GuacaMol's ``canonicalize_list(..., include_stereocenters=False)``.

    Parameters
    ----------
    smiles : sequence of str
        Molecules; invalid ones are skipped.
    n_jobs : int
        Worker processes (:mod:`aae_core.molecules.metrics.parallel`).
    progress : callable, optional
        Reports ``stage`` (descriptors) and ``stage + " similarity"`` (:mod:`aae_core.molecules.metrics.progress`).

    Returns
    -------
    descriptors : numpy.ndarray
        Shape ``(n, 9)``, dtype ``float64``: :data:`~aae_core.molecules.metrics.descriptors.KL_DESCRIPTORS`.
    internal_similarity : numpy.ndarray
        Shape ``(n,)``, dtype ``float64``: for each molecule the largest Tanimoto similarity (Morgan radius
        2, 4096 bits, as GuacaMol's ``get_fingerprints``) to any other molecule of the set.
    """
    flat = parallel_map(functools.partial(desc.canonical_smiles, isomeric=False), smiles, n_jobs)
    unique = list(dict.fromkeys(c for c in flat if c))
    parts = map_chunks(desc.kl_chunk, unique, n_jobs, progress=progress, stage=stage)
    values = np.concatenate([v for v, _ in parts]) if parts else np.zeros((0, len(desc.KL_DESCRIPTORS)))
    if len(values) == 0:
        return np.zeros((0, len(desc.KL_DESCRIPTORS))), np.zeros(0)
    if len(values) == 1:
        return values, np.zeros(1)
    packed = np.concatenate([b for _, b in parts])
    bits = np.unpackbits(packed, axis=1, count=GUACAMOL_FP["n_bits"])
    similarity = tanimoto_max(bits, packed, exclude_diagonal=True, packed_reference=True, progress=progress,
                              stage=f"{stage} similarity")
    return values, similarity


def _property_distributions(values: np.ndarray, counts: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each column of ``values`` (shape ``(n, 4)``) as its sorted distinct values and their total weights."""
    out = {}
    for j, name in enumerate(desc.PROPERTY_COLUMNS):
        distinct, inverse = np.unique(values[:, j], return_inverse=True)
        out[name] = (distinct, np.bincount(inverse, weights=counts, minlength=len(distinct)).astype(np.int64))
    return out


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
    properties : dict of str to (numpy.ndarray, numpy.ndarray)
        For each of :data:`~aae_core.molecules.metrics.descriptors.PROPERTY_COLUMNS` (logP, SA, QED, weight): its
        sorted distinct values (``float64``, shape ``(m,)``) and their weights (``int64``, shape ``(m,)``,
        multiplicities included, summing to :attr:`n_molecules`).
    fragments, scaffolds : dict of str to int
        BRICS fragment and two-or-more-ring Bemis-Murcko scaffold counts (multiplicities included).
    kl_descriptors : numpy.ndarray
        Shape ``(m, 9)``, ``float64``: GuacaMol descriptors of a random subset of at most
        :data:`KL_REFERENCE_SIZE` distinct molecules (stereo removed).
    kl_internal_similarity : numpy.ndarray
        Shape ``(m,)``, ``float64``: nearest-neighbour Tanimoto similarity within that subset.
    origin : str
        ``"computed"``, ``"cache"`` (read from the disk cache) or ``"shipped"`` (from the shipped statistics,
        fingerprints computed).
    notes : tuple of str
        Caveats, e.g. shipped statistics made with another RDKit version.
    """

    name: str
    key: str
    n_input: int
    n_invalid: int
    counts: np.ndarray
    fingerprints: np.ndarray
    fcd_mu: np.ndarray
    fcd_sigma: np.ndarray
    properties: dict[str, tuple[np.ndarray, np.ndarray]]
    fragments: dict[str, int]
    scaffolds: dict[str, int]
    kl_descriptors: np.ndarray
    kl_internal_similarity: np.ndarray
    origin: str = field(default="computed", compare=False)
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def from_cache(self) -> bool:
        """Whether the statistics were read from the disk cache."""
        return self.origin == "cache"

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
        """Unpacked :attr:`fingerprints`: shape ``(n_unique, 1024)``, ``uint8`` 0/1 (``n_unique`` KB)."""
        return np.unpackbits(self.fingerprints, axis=1, count=MOSES_FP["n_bits"])

    def __repr__(self) -> str:
        return (
            f"ReferenceSet(name={self.name!r}, molecules={self.n_molecules}, unique={self.n_unique}, "
            f"invalid={self.n_invalid}, key={self.key[:12]}, origin={self.origin})"
        )

    # -- (de)serialisation ------------------------------------------------------------------------

    def _statistics_arrays(self) -> dict[str, np.ndarray]:
        """The aggregate statistics (what is shipped): no per-molecule arrays."""
        columns = desc.PROPERTY_COLUMNS
        return {
            "fcd_mu": self.fcd_mu,
            "fcd_sigma_triu": self.fcd_sigma[np.triu_indices(len(self.fcd_sigma))],
            "property_sizes": np.array([len(self.properties[c][0]) for c in columns], dtype=np.int64),
            "property_values": np.concatenate([self.properties[c][0] for c in columns]),
            "property_weights": np.concatenate([self.properties[c][1] for c in columns]),
            "fragment_names": _text_array(self.fragments),
            "fragment_counts": np.array(list(self.fragments.values()), dtype=np.int64),
            "scaffold_names": _text_array(self.scaffolds),
            "scaffold_counts": np.array(list(self.scaffolds.values()), dtype=np.int64),
            "kl_descriptors": self.kl_descriptors,
            "kl_internal_similarity": self.kl_internal_similarity,
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        meta = {"name": self.name, "key": self.key, "n_input": self.n_input, "n_invalid": self.n_invalid,
                "versions": versions(), "notes": list(self.notes), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        return {"meta": np.array(json.dumps(meta)), "counts": self.counts, "fingerprints": self.fingerprints,
                **self._statistics_arrays()}

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray], *, name: str, key: str, n_input: int, n_invalid: int,
                     counts: np.ndarray, fingerprints: np.ndarray, origin: str,
                     notes: Sequence[str] = ()) -> ReferenceSet:
        n = len(arrays["fcd_mu"])
        sigma = np.zeros((n, n))
        sigma[np.triu_indices(n)] = arrays["fcd_sigma_triu"]
        sigma = np.triu(sigma, 1).T + sigma
        bounds = np.cumsum([0, *arrays["property_sizes"].tolist()])
        properties = {c: (arrays["property_values"][lo:hi], arrays["property_weights"][lo:hi])
                      for c, lo, hi in zip(desc.PROPERTY_COLUMNS, bounds[:-1], bounds[1:], strict=True)}

        def counter(kind: str) -> dict[str, int]:
            names = _text_list(arrays[f"{kind}_names"])
            return dict(zip(names, arrays[f"{kind}_counts"].tolist(), strict=True))

        return cls(name=name, key=key, n_input=n_input, n_invalid=n_invalid, counts=counts, fingerprints=fingerprints,
                   fcd_mu=arrays["fcd_mu"], fcd_sigma=sigma, properties=properties, fragments=counter("fragment"),
                   scaffolds=counter("scaffold"), kl_descriptors=arrays["kl_descriptors"],
                   kl_internal_similarity=arrays["kl_internal_similarity"], origin=origin, notes=tuple(notes))

    @classmethod
    def _from_cache_arrays(cls, arrays: dict[str, np.ndarray], name: str) -> ReferenceSet:
        meta = _meta(arrays)
        return cls._from_arrays(arrays, name=name or meta["name"], key=meta["key"], n_input=int(meta["n_input"]),
                                n_invalid=int(meta["n_invalid"]), counts=arrays["counts"],
                                fingerprints=arrays["fingerprints"], origin="cache", notes=meta.get("notes", ()))


def _statistics(pending: PendingChunks, progress: Progress | None, name: str) -> tuple:
    """Collect the :func:`~aae_core.molecules.metrics.descriptors.chunk_statistics` of ``(unique SMILES, count)`` pairs.

    Returns ``(keep, properties, fragments, scaffolds, fingerprints)`` (see
    :class:`~aae_core.molecules.metrics.descriptors.ChunkStatistics`)."""
    parts = pending.result(progress, f"{name}: properties, fragments, scaffolds, fingerprints")
    fragments: Counter[str] = Counter()
    scaffolds: Counter[str] = Counter()
    for part in parts:
        fragments.update(part.fragments)
        scaffolds.update(part.scaffolds)
    return (np.concatenate([p.keep for p in parts]), np.concatenate([p.properties for p in parts]),
            dict(sorted(fragments.items())), dict(sorted(scaffolds.items())),
            np.concatenate([p.fingerprints for p in parts]))


def _chemnet(unique: list[str], counts: np.ndarray, device: str | None, n_jobs: int, progress: Progress | None,
             name: str) -> tuple[np.ndarray, np.ndarray]:
    if counts.sum() < 2:
        return np.full(512, np.nan), np.full((512, 512), np.nan)
    return desc.chemnet_statistics(unique, counts, device=device, n_jobs=n_jobs, progress=progress,
                                   stage=f"{name}: ChemNet activations")


def compute_reference(
    smiles: Sequence[str],
    name: str = "reference",
    *,
    n_jobs: int = 1,
    device: str | None = None,
    kl_size: int = KL_REFERENCE_SIZE,
    progress: Progress | None = None,
) -> ReferenceSet:
    """Compute the statistics of a reference set (no cache, nothing shipped; see :func:`load_reference`).

    Streams: molecules are parsed chunk by chunk (:data:`~aae_core.molecules.metrics.parallel.CHUNK`) in worker
    processes while ChemNet runs here on batches the workers have not taken (give this process one torch
    thread when the workers use every core: OpenMP threads competing for cores waste most of their time);
    peak memory is under 1 GB in any process for the 176,074 MOSES test molecules (it was 6.6 GB when every
    molecule was held at once).

    Parameters
    ----------
    smiles : sequence of str
        Reference molecules. Invalid entries are counted in ``n_invalid`` and left out, with a warning.
    name : str
        Label.
    n_jobs : int
        Worker processes for the per-molecule RDKit work and ChemNet on the CPU (1: none; -1: one per CPU).
        Spawned: a calling script needs the ``if __name__ == "__main__":`` guard.
    device : str, optional
        Torch device for ChemNet.
    kl_size : int
        Size of the random subset for the KL-divergence statistics.
    progress : callable, optional
        Reports each step (:mod:`aae_core.molecules.metrics.progress`).

    Raises
    ------
    DataError
        If no SMILES is valid.
    """
    start = time.perf_counter()
    smiles = list(smiles)
    canonical = _canonical(smiles, n_jobs, progress, f"{name}: canonical SMILES")
    reference = _build(smiles, canonical, name, n_jobs=n_jobs, device=device, kl_size=kl_size, progress=progress)
    logger.info("reference %s computed in %.1f s", name, time.perf_counter() - start)
    return reference


def _build(smiles: Sequence[str], canonical: Sequence[str | None], name: str, *, n_jobs: int, device: str | None,
           kl_size: int, progress: Progress | None) -> ReferenceSet:
    unique, counts, n_invalid = _unique_valid(smiles, canonical)
    # RDKit work starts in the workers, ChemNet runs here meanwhile.
    pending = PendingChunks(desc.chunk_statistics, list(zip(unique, counts.tolist(), strict=True)), n_jobs)
    fcd_mu, fcd_sigma = _chemnet(unique, counts, device, n_jobs, progress, name)
    keep, values, fragments, scaffolds, fingerprints = _statistics(pending, progress, name)
    if not keep.all():  # a canonical SMILES that does not parse back: drop it (not seen in practice)
        unique = [s for s, k in zip(unique, keep, strict=True) if k]
        counts = counts[keep]
        fcd_mu, fcd_sigma = _chemnet(unique, counts, device, n_jobs, progress, name)
    rng = np.random.RandomState(KL_REFERENCE_SEED)
    subset = unique if len(unique) <= kl_size else [unique[i] for i in rng.choice(len(unique), kl_size, replace=False)]
    kl_values, kl_similarity = kl_reference_statistics(subset, n_jobs, progress=progress,
                                                       stage=f"{name}: KL descriptors")
    return ReferenceSet(
        name=name, key=_key("reference", _content_hash(smiles)), n_input=len(smiles), n_invalid=n_invalid,
        counts=counts, fingerprints=fingerprints, fcd_mu=fcd_mu, fcd_sigma=fcd_sigma,
        properties=_property_distributions(values, counts), fragments=fragments, scaffolds=scaffolds,
        kl_descriptors=kl_values, kl_internal_similarity=kl_similarity,
    )


# --------------------------------------------------------------------------------------------------
# Shipped statistics


def write_shipped_statistics(smiles: Sequence[str], path: str | os.PathLike[str], name: str, *, n_jobs: int = 1,
                             device: str | None = "cpu", progress: Progress | None = None,
                             provenance: dict | None = None) -> ReferenceSet:
    """Compute the statistics of ``smiles`` and write what :func:`load_reference` needs to rebuild them without
    ChemNet or RDKit descriptors (see the module docstring): the aggregate statistics, the canonical SMILES that
    differ from the input, the versions and ``provenance`` (JSON-able), as a compressed ``.npz`` without pickled
    objects. Returns the computed set (fingerprints included)."""
    smiles = list(smiles)
    canonical = _canonical(smiles, n_jobs, progress, f"{name}: canonical SMILES")
    reference = _build(smiles, canonical, name, n_jobs=n_jobs, device=device, kl_size=KL_REFERENCE_SIZE,
                       progress=progress)
    meta = {"name": name, "content_sha256": _content_hash(smiles), "n_input": reference.n_input,
            "n_invalid": reference.n_invalid, "n_unique": reference.n_unique, "versions": versions(),
            "created": time.strftime("%Y-%m-%d"), **(provenance or {})}
    _atomic_savez(Path(path), {"meta": np.array(json.dumps(meta)), **_canonical_fixes(smiles, canonical),
                               **reference._statistics_arrays()})
    return reference


def write_shipped_canonical(smiles: Sequence[str], path: str | os.PathLike[str], *, n_jobs: int = 1,
                            progress: Progress | None = None, provenance: dict | None = None) -> frozenset[str]:
    """Write the canonical SMILES of a training set as the entries that differ from ``smiles`` (see
    :func:`canonical_training_set`); returns the canonical set."""
    smiles = list(smiles)
    canonical = _canonical(smiles, n_jobs, progress, "training set: canonical SMILES")
    meta = {"content_sha256": _content_hash(smiles), "n_input": len(smiles), "versions": versions(),
            "created": time.strftime("%Y-%m-%d"), **(provenance or {})}
    _atomic_savez(Path(path), {"meta": np.array(json.dumps(meta)), **_canonical_fixes(smiles, canonical)})
    return frozenset(c for c in canonical if c is not None)


def _version_notes(made_with: dict[str, str], what: str) -> list[str]:
    here = versions()
    return [f"{what} were made with {package} {made_with.get(package)}, this is {package} {here[package]}"
            for package in ("rdkit", "fcd") if made_with.get(package) != here[package]]


def _shipped_match(paths: Iterable[Path], content: str) -> tuple[Path, dict] | None:
    for path in paths:
        head = _load_npz(path, ["meta"])
        if head is not None and _meta(head).get("content_sha256") == content:
            return path, _meta(head)
    return None


def _shipped_reference(smiles: list[str], content: str, name: str, n_jobs: int,
                       progress: Progress | None) -> ReferenceSet | None:
    """The reference set from shipped statistics whose input has the same content hash, fingerprints computed
    here; ``None`` if none ships (or the file is unreadable)."""
    match = _shipped_match(SHIPPED_STATS.values(), content)
    arrays = _load_npz(match[0]) if match else None
    if arrays is None:
        return None
    meta = _meta(arrays)
    if str(meta["versions"].get("cache")) != str(CACHE_VERSION):  # another layout: not readable here
        logger.warning("%s has layout %s, not %s: computing instead", match[0], meta["versions"].get("cache"),
                       CACHE_VERSION)
        return None
    notes = _version_notes(meta["versions"], f"the shipped statistics of {meta['name']}")
    if notes:
        warnings.warn("; ".join(notes) + "; using them anyway (load_reference(..., shipped=False) rebuilds them, "
                      "about 15 CPU-minutes)", UserWarning, stacklevel=3)
        canonical = _canonical(smiles, n_jobs, progress, f"{name}: canonical SMILES")
    else:
        canonical = _apply_fixes(smiles, arrays)
    unique, counts, n_invalid = _unique_valid(smiles, canonical)
    parts = map_chunks(desc.packed_fingerprints, unique, n_jobs, progress=progress,
                       stage=f"{name}: fingerprints (first use)")
    keep = np.concatenate([k for k, _ in parts])
    fingerprints = np.concatenate([f for _, f in parts])
    logger.info("reference %s: shipped statistics from %s", name, match[0])
    return ReferenceSet._from_arrays(arrays, name=name, key=_key("reference", content), n_input=len(smiles),
                                     n_invalid=n_invalid, counts=counts[keep], fingerprints=fingerprints,
                                     origin="shipped", notes=notes)


def load_reference(
    source: Sequence[str] | str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
    use_cache: bool = True,
    n_jobs: int = 1,
    device: str | None = None,
    progress: Progress | None = None,
    shipped: bool = True,
) -> ReferenceSet:
    """Reference set statistics: from the disk cache, else from the shipped statistics (MOSES test splits),
    else computed; cached.

    First use of the MOSES test split: about 20 CPU-seconds (fingerprints; all the rest is shipped); of another
    reference set: about 5 CPU-ms per molecule (15 CPU-minutes for 176,000), spread over ``n_jobs`` workers;
    then about a second from the cache.

    Parameters
    ----------
    source : sequence of str, path, or None
        ``None``: the shipped MOSES test split (:func:`moses_smiles`); a path: a SMILES file
        (:func:`read_smiles`); otherwise a sequence of SMILES. Use ``moses_smiles("test_scaffolds")`` for
        the MOSES scaffold test split. Shipped statistics are found by content (any order of the same SMILES).
    name : str, optional
        Label (default: ``"MOSES test"``, the file name, or ``"<n> SMILES"``).
    use_cache : bool
        Read and write the cache (``False``: write nothing).
    n_jobs, device
        See :func:`compute_reference`.
    progress : callable, optional
        Reports each step that runs (:mod:`aae_core.molecules.metrics.progress`); nothing is reported on a cache hit.
    shipped : bool
        Use shipped statistics when they match (``False``: compute everything with the installed versions).

    Raises
    ------
    DataError
        If the file is missing or unreadable, or no SMILES is valid.
    """
    smiles, default_name = _as_smiles_list(source)
    name = name or default_name
    content = _content_hash(smiles)
    key = _key("reference", content)
    path = cache_dir() / f"reference-{key[:32]}.npz"
    if use_cache:
        arrays = _load_npz(path)
        if arrays is not None and "meta" in arrays and _meta(arrays).get("key") == key:
            logger.info("reference %s: loaded from %s", name, path)
            return ReferenceSet._from_cache_arrays(arrays, name)
    reference = _shipped_reference(smiles, content, name, n_jobs, progress) if shipped else None
    if reference is None:
        reference = compute_reference(smiles, name, n_jobs=n_jobs, device=device, progress=progress)
    if use_cache:
        try:
            _atomic_savez(path, reference._arrays())
            logger.info("reference %s: cached to %s", name, path)
        except (OSError, OutputError) as error:
            warnings.warn(f"could not write the metrics cache {path}: {error}", stacklevel=2)
    return reference


_MOSES_TRAIN: list[frozenset[str]] = []  # the shipped MOSES train set once read (it depends on nothing else)


def _shipped_training_set(smiles: list[str], content: str) -> frozenset[str] | None:
    match = _shipped_match([SHIPPED_CANONICAL], content)
    if match is None or _version_notes(match[1]["versions"], "") or match[1]["n_input"] != len(smiles):
        return None  # another RDKit may canonicalise differently: recompute (and cache)
    arrays = _load_npz(match[0])
    if arrays is None:
        return None
    return frozenset(c for c in _apply_fixes(smiles, arrays) if c is not None)


def canonical_training_set(
    source: Sequence[str] | str | os.PathLike[str] | None = None,
    *,
    use_cache: bool = True,
    n_jobs: int = 1,
    progress: Progress | None = None,
) -> frozenset[str]:
    """Canonical SMILES of a training set, for Novelty: shipped for the MOSES train cut (when the RDKit version
    matches), else computed (about 0.12 CPU-ms per SMILES) and cached like reference sets.

    Parameters
    ----------
    source : sequence of str, path, or None
        ``None``: the shipped 250,000-molecule MOSES train cut; a path: a SMILES file; else SMILES.
    use_cache : bool
        Read and write ``train-<key>.npz`` in :func:`cache_dir`.
    n_jobs : int
        Worker processes for canonicalisation.
    progress : callable, optional
        Reports the canonicalisation when it runs.
    """
    if source is None and _MOSES_TRAIN:  # the shipped set, read once per process
        return _MOSES_TRAIN[0]
    if source is None:
        smiles = moses_smiles("train")
    elif isinstance(source, (str, os.PathLike)):
        smiles = read_smiles(source)
    else:
        smiles = list(source)
    if not smiles:
        return frozenset()
    content = _content_hash(smiles)
    shipped = _shipped_training_set(smiles, content)
    if shipped is not None:
        if source is None:
            _MOSES_TRAIN.append(shipped)
        return shipped
    key = _key("train", content)
    path = cache_dir() / f"train-{key[:32]}.npz"
    if use_cache:
        arrays = _load_npz(path)
        if arrays is not None and "key" in arrays and str(arrays["key"]) == key:
            return frozenset(_text_list(arrays["smiles"]))
    start = time.perf_counter()
    canonical = sorted({c for c in _canonical(smiles, n_jobs, progress, "training set: canonical SMILES") if c})
    logger.info("training set: %d SMILES canonicalised in %.1f s", len(smiles), time.perf_counter() - start)
    if use_cache:
        try:
            _atomic_savez(path, {"key": np.array(key), "smiles": _text_array(canonical)})
        except (OSError, OutputError) as error:
            warnings.warn(f"could not write the metrics cache {path}: {error}", stacklevel=2)
    return frozenset(canonical)
