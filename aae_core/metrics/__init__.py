"""Generation metrics for molecules: MOSES (Polykovskiy et al. 2020) and GuacaMol (Brown et al. 2019).

Start with :func:`evaluate`; reference statistics come from :func:`load_reference` (cached on disk).
"""

from aae_core.metrics.cli import evaluate_cli
from aae_core.metrics.descriptors import KL_DESCRIPTORS, PROPERTY_COLUMNS, passes_filters
from aae_core.metrics.molecules import (
    METRIC_COLUMNS,
    METRIC_DIRECTIONS,
    MOSES_PAPER,
    MetricWarning,
    evaluate,
    fcd,
    fcd_score,
    format_table,
    fraction_passes_filters,
    fraction_unique,
    fraction_valid,
    fragment_similarity,
    internal_diversity,
    kl_divergence_score,
    novelty,
    property_distances,
    scaffold_similarity,
    snn,
    to_frame,
)
from aae_core.metrics.reference import (
    ReferenceSet,
    cache_dir,
    canonical_training_set,
    compute_reference,
    load_reference,
    moses_smiles,
    read_smiles,
)

__all__ = [
    "KL_DESCRIPTORS",
    "METRIC_COLUMNS",
    "METRIC_DIRECTIONS",
    "MOSES_PAPER",
    "PROPERTY_COLUMNS",
    "MetricWarning",
    "ReferenceSet",
    "cache_dir",
    "canonical_training_set",
    "compute_reference",
    "evaluate",
    "evaluate_cli",
    "fcd",
    "fcd_score",
    "format_table",
    "fraction_passes_filters",
    "fraction_unique",
    "fraction_valid",
    "fragment_similarity",
    "internal_diversity",
    "kl_divergence_score",
    "load_reference",
    "moses_smiles",
    "novelty",
    "passes_filters",
    "property_distances",
    "read_smiles",
    "scaffold_similarity",
    "snn",
    "to_frame",
]
