"""Generation metrics for molecules, on par with MOSES and GuacaMol.

MOSES metrics (Polykovskiy et al. 2020, "Molecular Sets (MOSES): a benchmarking platform for molecular
generation models", Front. Pharmacol. 11:565644; definitions as in the ``molsets`` 0.3.1 code,
``moses/metrics/metrics.py``, which produced the published tables): Valid, Unique@k, FCD, SNN, Frag,
Scaf, IntDiv, IntDiv2, Filters, Novelty and the Wasserstein-1 distances of logP, SA, QED and molecular
weight. GuacaMol metrics (Brown et al. 2019, "GuacaMol: benchmarking models for de novo molecular
design", J. Chem. Inf. Model. 59:1096): the KL-divergence score and the FCD score.

As in MOSES, everything after Valid is computed on the valid generated molecules only, as the molecules
parsed back from their RDKit canonical SMILES, duplicates included (each distinct molecule is computed
once and weighted by its multiplicity, which gives the same numbers). Input that is ``None``, empty or
not parsable counts as invalid; it never raises.

``nan`` policy: with no valid molecule every metric but Valid is ``nan`` (Valid is 0, or ``nan`` for an
empty input); FCD needs two valid molecules; Frag / Scaf are ``nan`` when the generated (or reference)
molecules have no fragment / no scaffold with at least two rings (MOSES's ``cos_similarity``); the KL
score needs two distinct valid molecules. A :class:`MetricWarning` says why a value is ``nan`` or
computed on fewer molecules than asked (Unique@k with fewer than k valid molecules).

Typical use::

    from aae_core.molecules.metrics import evaluate, format_table
    metrics = evaluate(samples)            # MOSES test split as reference, MOSES train cut for Novelty
    print(format_table(metrics))
"""

from __future__ import annotations

import functools
import logging
import math
import time
import warnings
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.stats import entropy, gaussian_kde, wasserstein_distance

from aae_core.molecules.metrics import descriptors as desc
from aae_core.molecules.metrics.parallel import PendingChunks, parallel_map
from aae_core.molecules.metrics.progress import Progress
from aae_core.molecules.metrics.reference import (
    MOSES_FP,
    ReferenceSet,
    canonical_training_set,
    kl_reference_statistics,
    load_reference,
)
from aae_core.molecules.metrics.similarity import (
    cosine_similarity_counts,
    tanimoto_max,
    tanimoto_mean_powers,
)

__all__ = [
    "METRIC_COLUMNS",
    "METRIC_DIRECTIONS",
    "MOSES_PAPER",
    "MetricWarning",
    "evaluate",
    "fcd",
    "fcd_score",
    "format_table",
    "fraction_passes_filters",
    "fraction_unique",
    "fraction_valid",
    "fragment_similarity",
    "internal_diversity",
    "kl_divergence_score",
    "novelty",
    "property_distances",
    "scaffold_similarity",
    "snn",
    "to_frame",
]

logger = logging.getLogger(__name__)

#: Metric names returned by :func:`evaluate` (default ``k`` and ``label``), in the MOSES table order
#: (Polykovskiy et al. 2020, Table 2), then the MOSES property distances, then the GuacaMol scores. The
#: names are the keys of MOSES ``get_all_metrics`` (``unique@1000`` is the table's "Unique@1k"; ``logP``,
#: ``SA``, ``QED`` and ``weight`` hold Wasserstein-1 distances).
METRIC_COLUMNS = (
    "valid",
    "unique@1000",
    "unique@10000",
    "FCD/Test",
    "SNN/Test",
    "Frag/Test",
    "Scaf/Test",
    "IntDiv",
    "IntDiv2",
    "Filters",
    "Novelty",
    "logP",
    "SA",
    "QED",
    "weight",
    "KL score",
    "FCD score",
)

#: ``"higher"`` or ``"lower"``: which way each metric is better (FCD and the Wasserstein-1 distances are
#: distances; for SNN the MOSES paper marks higher as better).
METRIC_DIRECTIONS = {name: "higher" for name in METRIC_COLUMNS} | {
    "FCD/Test": "lower",
    "logP": "lower",
    "SA": "lower",
    "QED": "lower",
    "weight": "lower",
}

#: Published MOSES results: means over several training runs, 30,000 samples each, evaluated against the
#: MOSES test split (Polykovskiy et al. 2020, baseline results table; the same means, to four decimals, in
#: the README of github.com/molecularsets/moses; standard deviations and the TestSF columns left out).
#: Rounded half up to three decimals they read AAE 0.937, 1.0, 0.997, 0.556, 0.608, 0.991, 0.902, 0.856,
#: 0.850, 0.996, 0.793 and VAE 0.977, 1.0, 0.998, 0.099, 0.626, 0.999, 0.939, 0.856, 0.850, 0.997, 0.695.
#: The paper publishes no property distances or GuacaMol scores.
MOSES_PAPER: dict[str, dict[str, float]] = {
    "AAE": {
        "valid": 0.9368,
        "unique@1000": 1.0,
        "unique@10000": 0.9973,
        "FCD/Test": 0.5555,
        "SNN/Test": 0.6081,
        "Frag/Test": 0.991,
        "Scaf/Test": 0.9022,
        "IntDiv": 0.8557,
        "IntDiv2": 0.8499,
        "Filters": 0.996,
        "Novelty": 0.7931,
    },
    "VAE": {
        "valid": 0.9767,
        "unique@1000": 1.0,
        "unique@10000": 0.9984,
        "FCD/Test": 0.099,
        "SNN/Test": 0.6257,
        "Frag/Test": 0.9994,
        "Scaf/Test": 0.9386,
        "IntDiv": 0.8558,
        "IntDiv2": 0.8498,
        "Filters": 0.997,
        "Novelty": 0.6949,
    },
}

NAN = float("nan")


class MetricWarning(UserWarning):
    """A metric is ``nan`` or was computed on fewer molecules than asked for."""


def _warn(message: str) -> None:
    warnings.warn(message, MetricWarning, stacklevel=3)


# --------------------------------------------------------------------------------------------------
# The generated sample


@dataclass
class _Sample:
    """Generated SMILES reduced to what the metrics need.

    ``valid`` holds the canonical SMILES of the valid inputs in input order; ``unique`` the distinct ones
    in first-seen order, ``counts`` their multiplicities (shape ``(n_unique,)``, ``int64``). Per-molecule
    RDKit work runs in ``n_jobs`` worker processes; long steps report to ``progress``.
    """

    n_input: int
    valid: list[str]
    unique: list[str]
    counts: np.ndarray
    n_jobs: int = 1
    progress: Progress | None = None
    _pending: dict[str, PendingChunks] = field(default_factory=dict, repr=False)

    def start_workers(self) -> None:
        """Hand the per-molecule RDKit work (fingerprints, then properties / fragments / scaffolds / filters) to
        the worker processes now, so that it runs while this process computes ChemNet (nothing with
        ``n_jobs=1``: then it runs when first needed)."""
        if self.n_jobs != 1 and not self._pending:
            self._pending["fingerprints"] = PendingChunks(desc.packed_fingerprints, self.unique, self.n_jobs)
            self._pending["features"] = PendingChunks(desc.features_chunk, self.unique, self.n_jobs)

    def _collect(self, name: str, func, stage: str) -> list:
        pending = self._pending.pop(name, None) or PendingChunks(func, self.unique, self.n_jobs)
        return pending.result(self.progress, stage)

    @classmethod
    def from_smiles(cls, generated: Iterable[str | None], n_jobs: int = 1, progress: Progress | None = None) -> _Sample:
        generated = list(generated)
        canonical = parallel_map(desc.canonical_smiles, generated, n_jobs, progress=progress, stage="canonical SMILES")
        valid = [c for c in canonical if c is not None]
        tally = Counter(valid)  # insertion ordered: first-seen order
        return cls(
            n_input=len(generated),
            valid=valid,
            unique=list(tally),
            counts=np.fromiter(tally.values(), dtype=np.int64, count=len(tally)),
            n_jobs=n_jobs,
            progress=progress,
        )

    @property
    def n_valid(self) -> int:
        return len(self.valid)

    @cached_property
    def features(self) -> list[desc.MoleculeFeatures | None]:
        parts = self._collect("features", desc.features_chunk, "properties, fragments, scaffolds, filters")
        return [f for part in parts for f in part]

    @cached_property
    def fingerprint_bits(self) -> np.ndarray:
        """Morgan fingerprints of :attr:`unique`, shape ``(n_unique, 1024)``, 0/1 ``uint8`` (every canonical
        SMILES parses back; a row of zeros if one did not)."""
        parts = self._collect("fingerprints", desc.packed_fingerprints, "fingerprints")
        bits = np.zeros((len(self.unique), MOSES_FP["n_bits"]), dtype=np.uint8)
        if parts:
            keep = np.concatenate([k for k, _ in parts])
            bits[keep] = np.unpackbits(np.concatenate([f for _, f in parts]), axis=1, count=MOSES_FP["n_bits"])
        return bits

    def _usable(self) -> tuple[list[desc.MoleculeFeatures], np.ndarray]:
        # A canonical SMILES that fails to parse back has no features (not seen in practice).
        pairs = [(f, n) for f, n in zip(self.features, self.counts.tolist(), strict=True) if f is not None]
        return [f for f, _ in pairs], np.array([n for _, n in pairs], dtype=np.int64)

    # -- metrics ----------------------------------------------------------------------------------

    def fraction_valid(self) -> float:
        if self.n_input == 0:
            _warn("no generated SMILES: Valid is nan")
            return NAN
        return self.n_valid / self.n_input

    def fraction_unique(self, k: int | None = None) -> float:
        if not self.valid:
            return NAN
        valid = self.valid
        if k is not None:
            if len(valid) < k:
                _warn(f"unique@{k} computed on all {len(valid)} valid molecules: fewer than {k}")
            valid = valid[:k]
        return len(set(valid)) / len(valid)

    def novelty(self, train: Collection[str]) -> float:
        if not self.unique:
            return NAN
        return sum(1 for s in self.unique if s not in train) / len(self.unique)

    def internal_diversity(self) -> tuple[float, float]:
        if not self.unique:
            return NAN, NAN
        bits = self.fingerprint_bits
        means = tanimoto_mean_powers(bits, bits, self.counts, powers=(1, 2), progress=self.progress, stage="IntDiv")
        weights = self.counts / self.counts.sum()
        return float(1 - weights @ means[:, 0]), float(1 - weights @ np.sqrt(means[:, 1]))

    def snn(self, reference: ReferenceSet) -> float:
        if not self.unique:
            return NAN
        nearest = tanimoto_max(self.fingerprint_bits, reference.fingerprints, packed_reference=True,
                               progress=self.progress, stage="SNN")
        return float(self.counts @ nearest / self.counts.sum())

    def fcd(self, reference: ReferenceSet, device: str | None = None) -> float:
        from fcd import calculate_frechet_distance

        if self.n_valid < 2:
            _warn(f"FCD needs at least 2 valid molecules, got {self.n_valid}: FCD is nan")
            return NAN
        if not np.all(np.isfinite(reference.fcd_mu)):
            _warn("the reference set has fewer than 2 molecules: FCD is nan")
            return NAN
        mu, sigma = desc.chemnet_statistics(self.unique, self.counts, device=device, n_jobs=self.n_jobs,
                                            progress=self.progress, stage="FCD: ChemNet activations")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fcd passes scipy's deprecated disp=
                return float(calculate_frechet_distance(reference.fcd_mu, reference.fcd_sigma, mu, sigma))
        except ValueError as error:  # complex square root that does not become real
            _warn(f"FCD is nan: {error}")
            return NAN

    def fragment_counts(self) -> dict[str, int]:
        tally: Counter[str] = Counter()
        for f, n in zip(*self._usable(), strict=True):
            for fragment in f.fragments:
                tally[fragment] += int(n)
        return dict(tally)

    def scaffold_counts(self) -> dict[str, int]:
        tally: Counter[str] = Counter()
        for f, n in zip(*self._usable(), strict=True):
            if f.scaffold is not None:
                tally[f.scaffold] += int(n)
        return dict(tally)

    def fragment_similarity(self, reference: ReferenceSet) -> float:
        if not self.unique:
            return NAN
        return cosine_similarity_counts(reference.fragments, self.fragment_counts())

    def scaffold_similarity(self, reference: ReferenceSet) -> float:
        if not self.unique:
            return NAN
        counts = self.scaffold_counts()
        if not counts or not reference.scaffolds:
            _warn("no scaffold with two or more rings in the generated or reference set: Scaf is nan")
        return cosine_similarity_counts(reference.scaffolds, counts)

    def fraction_passes_filters(self) -> float:
        features, counts = self._usable()
        if not features:
            return NAN
        passes = np.array([bool(f.passes_filters) for f in features])
        return float(counts @ passes / counts.sum())

    def property_distances(self, reference: ReferenceSet) -> dict[str, float]:
        features, counts = self._usable()
        if not features:
            return dict.fromkeys(desc.PROPERTY_COLUMNS, NAN)
        values = np.array([f.properties for f in features], dtype=np.float64)
        distances = {}
        for j, name in enumerate(desc.PROPERTY_COLUMNS):
            ref_values, ref_weights = reference.properties[name]
            distances[name] = float(wasserstein_distance(ref_values, values[:, j], ref_weights, counts))
        return distances

    def _distinct_flat(self, n_samples: int) -> dict[str, None]:
        """The first ``n_samples`` distinct non-isomeric canonical SMILES of :attr:`unique`, in order (computed
        ``n_samples`` at a time, in parallel)."""
        distinct: dict[str, None] = {}
        flat_smiles = functools.partial(desc.canonical_smiles, isomeric=False)
        step = max(n_samples, 1)
        for start in range(0, len(self.unique), step):
            for flat in parallel_map(flat_smiles, self.unique[start : start + step], self.n_jobs):
                if flat is not None:
                    distinct[flat] = None
                    if len(distinct) >= n_samples:
                        return distinct
        return distinct

    def kl_divergence_score(self, reference: ReferenceSet, n_samples: int = 10_000) -> float:
        # GuacaMol samples n_samples unique molecules; here: the first n_samples distinct valid
        # molecules after removing stereochemistry, in generation order.
        distinct = self._distinct_flat(n_samples)
        if len(distinct) < n_samples:
            logger.info("KL score on %d distinct molecules (fewer than %d)", len(distinct), n_samples)
        if len(distinct) < 2:
            _warn(f"the KL score needs 2 distinct valid molecules, got {len(distinct)}: it is nan")
            return NAN
        values, similarity = kl_reference_statistics(list(distinct), self.n_jobs, progress=self.progress,
                                                     stage="KL score: descriptors")
        return _kl_score(reference.kl_descriptors, reference.kl_internal_similarity, values, similarity)


# --------------------------------------------------------------------------------------------------
# GuacaMol KL divergence


def _continuous_kl(reference: np.ndarray, sampled: np.ndarray) -> float:
    """GuacaMol ``continuous_kldiv``: KL(P || Q) of Gaussian kernel density estimates (Scott's bandwidth)
    evaluated on 1000 points spanning both samples, with 1e-10 added to each density.

    A sample with a single distinct value has no density estimate: KL = inf when only the generated one
    is degenerate (its score term becomes 0), 0 if both are the same point, nan otherwise.
    """
    ref_degenerate = np.ptp(reference) == 0
    if ref_degenerate or np.ptp(sampled) == 0:
        if ref_degenerate and np.ptp(sampled) == 0 and reference[0] == sampled[0]:
            return 0.0
        return NAN if ref_degenerate else math.inf
    grid = np.linspace(min(reference.min(), sampled.min()), max(reference.max(), sampled.max()), num=1000)
    p = gaussian_kde(reference)(grid) + 1e-10
    q = gaussian_kde(sampled)(grid) + 1e-10
    return float(entropy(p, q))


def _discrete_kl(reference: np.ndarray, sampled: np.ndarray) -> float:
    """GuacaMol ``discrete_kldiv``: KL(P || Q) of 10-bin density histograms on the reference's bins, with
    1e-10 added to each bin (a generated sample entirely outside the bins gets all-1e-10 bins instead of
    GuacaMol's nan)."""
    p, bins = np.histogram(reference, bins=10, density=True)
    q_counts, _ = np.histogram(sampled, bins=bins)
    q = q_counts / (q_counts.sum() * np.diff(bins)) if q_counts.sum() else np.zeros_like(p)
    return float(entropy(p + 1e-10, q + 1e-10))


def _kl_score(ref_values: np.ndarray, ref_similarity: np.ndarray, values: np.ndarray, similarity: np.ndarray) -> float:
    if len(ref_values) < 2:
        _warn("the reference set has fewer than 2 distinct molecules: the KL score is nan")
        return NAN
    divergences = [_continuous_kl(ref_values[:, i], values[:, i]) for i in range(4)]
    divergences += [_discrete_kl(ref_values[:, i], values[:, i]) for i in range(4, 9)]
    divergences.append(_continuous_kl(ref_similarity, similarity))
    return float(np.mean(np.exp(-np.asarray(divergences))))


# --------------------------------------------------------------------------------------------------
# Public single metrics


def fraction_valid(generated: Sequence[str | None]) -> float:
    """Valid: fraction of the inputs that RDKit parses into a non-empty molecule (MOSES
    ``fraction_valid``; ``None`` and ``""`` count as invalid). ``nan`` for an empty input."""
    return _Sample.from_smiles(generated).fraction_valid()


def fraction_unique(generated: Sequence[str | None], k: int | None = None) -> float:
    """Unique@k: fraction of distinct canonical SMILES among the first ``k`` valid molecules (MOSES
    ``fraction_unique``), all of them when ``k`` is ``None``. With fewer than ``k`` valid molecules it uses
    all of them and warns (:class:`MetricWarning`), as MOSES does. ``nan`` with no valid molecule."""
    return _Sample.from_smiles(generated).fraction_unique(k)


def novelty(generated: Sequence[str | None], train: Iterable[str], *, train_is_canonical: bool = False) -> float:
    """Novelty: fraction of the distinct valid generated molecules whose canonical SMILES is not in the
    training set (MOSES ``novelty``). ``train`` is canonicalised first unless ``train_is_canonical``.
    ``nan`` with no valid molecule."""
    train_set = frozenset(train) if train_is_canonical else canonical_training_set(list(train), use_cache=False)
    return _Sample.from_smiles(generated).novelty(train_set)


def internal_diversity(generated: Sequence[str | None], p: int = 1) -> float:
    """IntDiv_p: ``1 - mean_i (mean_j T(m_i, m_j)^p)^(1/p)`` over the valid generated molecules
    ``m_1..m_N`` (duplicates and self-pairs ``i = j`` included), T the Tanimoto similarity of Morgan
    radius-2 1024-bit fingerprints.

    This is MOSES's code (``internal_diversity`` / ``average_agg_tanimoto(agg='mean', p=p)``), which gave
    the published IntDiv2; the paper's formula ``1 - ((1/N^2) sum_ij T_ij^p)^(1/p)`` is the same for
    ``p = 1`` but takes the root after averaging over ``i`` as well, so for ``p = 2`` it is slightly
    smaller. ``p`` must be 1 or 2. ``nan`` with no valid molecule; 0 for identical molecules.
    """
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p}")
    return _Sample.from_smiles(generated).internal_diversity()[p - 1]


def snn(generated: Sequence[str | None], reference: ReferenceSet) -> float:
    """SNN: mean over the valid generated molecules of the Tanimoto similarity (Morgan radius 2, 1024
    bits) to the nearest reference molecule (MOSES ``SNNMetric``), against every reference molecule."""
    return _Sample.from_smiles(generated).snn(reference)


def fcd(generated: Sequence[str | None], reference: ReferenceSet, device: str | None = None) -> float:
    """Fréchet ChemNet Distance (Preuer et al. 2018, J. Chem. Inf. Model. 58:1736, Eq. 1):
    ``||mu_g - mu_r||^2 + Tr(S_g + S_r - 2 (S_g S_r)^(1/2))`` between the ChemNet activation statistics of
    the valid generated molecules and of the reference, computed by ``fcd.calculate_frechet_distance``.
    ``nan`` with fewer than 2 valid molecules."""
    return _Sample.from_smiles(generated).fcd(reference, device)


def fcd_score(fcd_value: float) -> float:
    """GuacaMol's FCD score ``exp(-0.2 FCD)`` (Brown et al. 2019, Sec. 2.1.3), in (0, 1], higher is
    better.

    GuacaMol compares 10,000 generated molecules with 10,000 random training molecules; :func:`evaluate`
    applies the transform to MOSES's FCD/Test instead, so the values are not interchangeable with
    GuacaMol leaderboard figures (FCD is biased upwards for small samples). A slightly negative FCD
    (round-off of a set against itself) counts as 0, so the score never exceeds 1.
    """
    return float(np.exp(-0.2 * max(fcd_value, 0.0))) if not math.isnan(fcd_value) else NAN


def fragment_similarity(generated: Sequence[str | None], reference: ReferenceSet) -> float:
    """Frag: cosine similarity of the BRICS fragment count vectors of the generated and reference
    molecules (MOSES ``FragMetric``); ``nan`` with no valid molecule."""
    return _Sample.from_smiles(generated).fragment_similarity(reference)


def scaffold_similarity(generated: Sequence[str | None], reference: ReferenceSet) -> float:
    """Scaf: cosine similarity of the Bemis-Murcko scaffold count vectors (MOSES ``ScafMetric``; only
    scaffolds with at least two rings count, MOSES's ``min_rings=2``); ``nan`` when either side has none."""
    return _Sample.from_smiles(generated).scaffold_similarity(reference)


def fraction_passes_filters(generated: Sequence[str | None]) -> float:
    """Filters: fraction of the valid generated molecules that pass the MOSES filters
    (:func:`aae_core.molecules.metrics.descriptors.passes_filters`); ``nan`` with no valid molecule."""
    return _Sample.from_smiles(generated).fraction_passes_filters()


def property_distances(generated: Sequence[str | None], reference: ReferenceSet) -> dict[str, float]:
    """Wasserstein-1 distances (``scipy.stats.wasserstein_distance``) between the generated and reference
    distributions of logP, SA, QED and molecular weight (MOSES ``WassersteinMetric``), keyed ``logP``,
    ``SA``, ``QED``, ``weight``; ``nan`` with no valid molecule."""
    return _Sample.from_smiles(generated).property_distances(reference)


def kl_divergence_score(generated: Sequence[str | None], reference: ReferenceSet, n_samples: int = 10_000) -> float:
    """GuacaMol KL-divergence score (Brown et al. 2019, Sec. 2.1.3, ``KLDivBenchmark``).

    ``S = (1/k) sum_i exp(-D_KL(P_i || Q_i))`` over k = 10 distributions, P from the reference and Q from
    the generated molecules: BertzCT, MolLogP, MolWt and TPSA (continuous: Gaussian KDE), NumHAcceptors,
    NumHDonors, NumRotatableBonds, NumAliphaticRings and NumAromaticRings (discrete: 10-bin histograms),
    and the distribution of each molecule's nearest-neighbour Tanimoto similarity within its own set
    (Morgan radius 2, 4096 bits; continuous). Molecules are compared without stereochemistry and
    de-duplicated; the generated side uses its first ``n_samples`` distinct valid molecules and the
    reference a fixed random subset (:data:`~aae_core.molecules.metrics.reference.KL_REFERENCE_SIZE`, seed 42).
    ``nan`` with fewer than 2 distinct valid molecules.
    """
    return _Sample.from_smiles(generated).kl_divergence_score(reference, n_samples)


# --------------------------------------------------------------------------------------------------
# evaluate


def evaluate(
    generated: Sequence[str | None],
    reference: ReferenceSet | None = None,
    train: Sequence[str] | None = None,
    n_jobs: int = 1,
    *,
    k: Sequence[int] = (1000, 10_000),
    device: str | None = None,
    kl_samples: int = 10_000,
    label: str = "Test",
    progress: Progress | None = None,
) -> dict[str, float]:
    """All MOSES metrics plus the GuacaMol KL-divergence and FCD scores of a generated sample.

    Cost, for 10,000 generated molecules against the MOSES test split: about 75 CPU-seconds (ChemNet, the
    per-molecule RDKit work and the 10,000 x 176,074 Tanimoto similarities of SNN), spread over ``n_jobs``
    worker processes and this one; it adds about 0.35 GB to this process. Every step of more than a few
    seconds reports to ``progress``.

    Parameters
    ----------
    generated : sequence of str or None
        Generated SMILES, in generation order (Unique@k uses the first k valid ones). MOSES uses 30,000.
    reference : ReferenceSet, optional
        Reference statistics; default ``load_reference()``, the MOSES test split (shipped statistics; the
        fingerprints are computed on first use, about 20 CPU-seconds, then read from the cache).
    train : sequence of str, optional
        Training SMILES for Novelty; default the shipped 250,000-molecule MOSES train cut (MOSES itself
        uses its full 1.58M train split; its canonical SMILES are shipped). Other sets are canonicalised
        and cached.
    n_jobs : int
        Worker processes for the per-molecule RDKit work and ChemNet (1: none; -1: one per CPU), on one torch
        thread each; give this process one torch thread too when they use every core. They are started with
        ``spawn`` and kept for later calls (:mod:`aae_core.molecules.metrics.parallel`), so a script calling this needs
        the ``if __name__ == "__main__":`` guard.
    k : sequence of int
        The k of the Unique@k metrics.
    device : str, optional
        Torch device for ChemNet (default: CUDA when available).
    kl_samples : int
        Number of distinct generated molecules for the KL score (GuacaMol: 10,000).
    label : str
        Suffix of the reference-based metrics (``"FCD/Test"``); use ``"TestSF"`` with the scaffold split.
    progress : callable, optional
        ``progress(stage, done, total)``, called as each step advances (:mod:`aae_core.molecules.metrics.progress`):
        ``"canonical SMILES"``, the reference and training-set steps when they are not cached,
        ``"fingerprints"``, ``"SNN"`` (over reference molecules), ``"IntDiv"``, ``"FCD: ChemNet activations"``,
        ``"properties, fragments, scaffolds, filters"``, ``"KL score: descriptors"`` and ``"KL score:
        descriptors similarity"``. E.g. :class:`~aae_core.molecules.metrics.progress.ProgressBar` draws tqdm bars.

    Returns
    -------
    dict of str to float
        ``valid``, ``unique@<k>``..., ``FCD/<label>``, ``SNN/<label>``, ``Frag/<label>``, ``Scaf/<label>``,
        ``IntDiv``, ``IntDiv2``, ``Filters``, ``Novelty``, ``logP``, ``SA``, ``QED``, ``weight`` (the
        Wasserstein-1 distances), ``KL score``, ``FCD score``, in this order (:data:`METRIC_COLUMNS`).
        See the module docstring for when values are ``nan``.
    """
    start = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(stage: str, since: float) -> float:
        now = time.perf_counter()
        timings[stage] = now - since
        return now

    sample = _Sample.from_smiles(generated, n_jobs, progress)
    t = lap("canonicalise", start)
    metrics: dict[str, float] = {"valid": sample.fraction_valid()}
    for kk in k:
        metrics[f"unique@{kk}"] = sample.fraction_unique(kk)
    names = [
        f"FCD/{label}",
        f"SNN/{label}",
        f"Frag/{label}",
        f"Scaf/{label}",
        "IntDiv",
        "IntDiv2",
        "Filters",
        "Novelty",
        *desc.PROPERTY_COLUMNS,
        "KL score",
        "FCD score",
    ]
    if sample.n_valid == 0:
        _warn("no valid generated molecule: every metric but Valid is nan")
        return metrics | dict.fromkeys(names, NAN)

    if reference is None:
        reference = load_reference(n_jobs=n_jobs, device=device, progress=progress)
    train_set = canonical_training_set(train, n_jobs=n_jobs, progress=progress)
    sample.start_workers()  # RDKit descriptors in the workers while the Tanimoto kernels and ChemNet run here
    t = lap("reference and train set", t)

    values: dict[str, float] = {f"SNN/{label}": sample.snn(reference)}
    t = lap("SNN", t)
    values["IntDiv"], values["IntDiv2"] = sample.internal_diversity()
    t = lap("IntDiv", t)
    values[f"FCD/{label}"] = sample.fcd(reference, device)
    t = lap("FCD", t)
    _ = sample.features
    t = lap("properties, fragments, scaffolds, filters", t)
    values[f"Frag/{label}"] = sample.fragment_similarity(reference)
    values[f"Scaf/{label}"] = sample.scaffold_similarity(reference)
    values["Filters"] = sample.fraction_passes_filters()
    values["Novelty"] = sample.novelty(train_set)
    values |= sample.property_distances(reference)
    t = lap("Frag, Scaf, Filters, Novelty, W1", t)
    values["KL score"] = sample.kl_divergence_score(reference, kl_samples)
    t = lap("KL score", t)
    values["FCD score"] = fcd_score(values[f"FCD/{label}"])
    metrics |= {name: values[name] for name in names}
    logger.info(
        "evaluated %d SMILES (%d valid) against %s in %.1f s: %s",
        sample.n_input,
        sample.n_valid,
        reference.name,
        time.perf_counter() - start,
        ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in timings.items()),
    )
    return metrics


# --------------------------------------------------------------------------------------------------
# Presentation


def _rank(name: str) -> tuple[int, int]:
    if name.startswith("unique@"):
        k = name.removeprefix("unique@")
        return 1, int(k) if k.isdigit() else 0
    base = name.split("/")[0] + "/Test" if "/" in name else name
    return (METRIC_COLUMNS.index(base), 0) if base in METRIC_COLUMNS else (len(METRIC_COLUMNS), 0)


def _ordered(names: Iterable[str]) -> list[str]:
    """Metric names in MOSES column order (unknown names last, in their given order)."""
    return sorted(dict.fromkeys(names), key=_rank)


def _direction(name: str) -> str:
    if name in METRIC_DIRECTIONS:
        return METRIC_DIRECTIONS[name]
    return "lower" if name.startswith("FCD/") else "higher"


def format_table(metrics: Mapping[str, float | None]) -> str:
    """Plain-text table of one run's metrics in MOSES column order, one metric per line with the
    direction that is better; ``nan`` / ``None`` shown as ``nan``.

    Example output::

        metric         value  better
        valid         0.9368  higher
        ...
    """
    names = _ordered(metrics)
    width = max([len("metric"), *map(len, names)])
    lines = [f"{'metric':<{width}}  {'value':>10}  better"]
    for name in names:
        value = metrics[name]
        shown = "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
        lines.append(f"{name:<{width}}  {shown:>10}  {_direction(name)}")
    return "\n".join(lines)


def to_frame(runs: Mapping[str, Mapping[str, float | None]]) -> pd.DataFrame:
    """Runs side by side: one row per run (index: run name), one column per metric in MOSES column order,
    ``NaN`` where a run lacks a metric. E.g. ``to_frame({"ours": evaluate(s), **MOSES_PAPER})``."""
    names = _ordered(name for metrics in runs.values() for name in metrics)
    rows = {run: [np.nan if m.get(n) is None else float(m[n]) for n in names] for run, m in runs.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=names)
    frame.index.name = "run"
    return frame
