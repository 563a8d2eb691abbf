"""Generation metrics for molecules: MOSES (Polykovskiy et al. 2020) and GuacaMol (Brown et al. 2019).

Start with :func:`evaluate`; reference statistics come from :func:`load_reference` (shipped for the MOSES test
splits, cached on disk otherwise); long steps report through a ``progress`` callback
(:mod:`aae_core.molecules.metrics.progress`).

Names are imported on first access (PEP 562), so the worker processes that run the per-molecule RDKit work,
which import :mod:`aae_core.molecules.metrics.descriptors`, do not import torch.
"""

from __future__ import annotations

import importlib

_SOURCES = {
    "cli": ("evaluate_cli",),
    "descriptors": ("KL_DESCRIPTORS", "PROPERTY_COLUMNS", "passes_filters"),
    "molecules": (
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
    ),
    "parallel": ("shutdown_workers",),
    "progress": ("Progress", "ProgressBar", "sample_with_progress"),
    "reference": (
        "ReferenceSet",
        "cache_dir",
        "canonical_training_set",
        "compute_reference",
        "load_reference",
        "moses_smiles",
        "read_smiles",
    ),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

