"""``aae-lab evaluate``: MOSES / GuacaMol metrics of a model's samples or of a SMILES file."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from aae_core.checkpoints import atomic_output, check_output, require_family
from aae_core.exceptions import DataError
from aae_core.molecules.data import read_smiles_list
from aae_core.molecules.metrics.molecules import evaluate, format_table, to_frame
from aae_core.molecules.metrics.progress import Progress, ProgressBar, sample_with_progress
from aae_core.molecules.metrics.reference import load_reference, moses_smiles, read_smiles

#: Shipped reference sets by name: (SMILES split, metric label).
SHIPPED_REFERENCES = {"moses-test": ("test", "Test"), "moses-test-scaffolds": ("test_scaffolds", "TestSF")}


def evaluate_cli(args: argparse.Namespace) -> int:
    """Run ``aae-lab evaluate`` from parsed arguments.

    Uses ``args.samples`` (a SMILES or SDF file, read with a load report printed to stderr; else ``args.n``
    samples drawn from the checkpoint ``args.model`` with ``args.temperature`` and ``args.seed``),
    ``args.reference`` (``"moses-test"``, ``"moses-test-scaffolds"`` or a SMILES file), ``args.train``
    (``"moses-train"`` or a SMILES file) and ``args.out`` (``.json`` or ``.csv``, optional, checked before any
    work and written atomically). Prints the table of :func:`format_table`. Sampling, the reference statistics
    (first use) and every metric step draw a tqdm bar on stderr (none with ``args.quiet``); the RDKit work runs
    in one worker process per CPU.

    Raises
    ------
    DataError
        For an unreadable SMILES file or an ``--out`` that is neither ``.json`` nor ``.csv``.
    OutputError
        If ``--out`` cannot be written.
    CheckpointError
        If ``args.model`` is not a molecule checkpoint.
    """
    out = getattr(args, "out", None)
    if out:
        check_output(out)
        if Path(out).suffix.lower() not in (".json", ".csv"):
            raise DataError(f"--out must end in .json or .csv, got {out!r}")
    with ProgressBar(disable=getattr(args, "quiet", False)) as progress:
        generated = _generated(args, progress)
        reference, label = reference_for(getattr(args, "reference", "moses-test") or "moses-test", progress)
        train_name = getattr(args, "train", "moses-train") or "moses-train"
        train = None if train_name == "moses-train" else read_smiles(train_name)
        print(f"scoring {len(generated)} SMILES against {reference.name}", file=sys.stderr)
        metrics = evaluate(generated, reference, train, n_jobs=-1, label=label, progress=progress)
    print(format_table(metrics))
    if out:
        _write_metrics(metrics, Path(out))
        print(f"wrote the metrics to {out}", file=sys.stderr)
    return 0


def reference_for(name: str, progress: Progress | None = None):
    """The :class:`~aae_core.molecules.metrics.ReferenceSet` named ``name`` (a key of :data:`SHIPPED_REFERENCES` or a
    SMILES
    file) and its metric label (``"Test"``, ``"TestSF"``), loaded with one worker per CPU, reporting to
    ``progress``.

    Raises
    ------
    DataError
        If the file is missing or unreadable.
    """
    if name in SHIPPED_REFERENCES:
        split, label = SHIPPED_REFERENCES[name]
        source = None if split == "test" else moses_smiles(split)
        return load_reference(source, name=f"MOSES {split.replace('_', ' ')}", n_jobs=-1, progress=progress), label
    return load_reference(name, n_jobs=-1, progress=progress), "Test"


def _generated(args: argparse.Namespace, progress: Progress | None = None) -> list[str]:
    """The SMILES to score: the ``--samples`` file's (its load report printed; at most
    :data:`aae_core.config.MAX_SCORED`), or the model's samples (reported to ``progress``)."""
    if getattr(args, "samples", None):
        from aae_core.config import MAX_SCORED

        generated, report = read_smiles_list(args.samples)
        print(f"samples {report.summary()}", file=sys.stderr)
        if len(generated) > MAX_SCORED:
            raise DataError(f"{Path(args.samples).name} holds {len(generated):,} SMILES, over the limit of "
                            f"{MAX_SCORED:,} scored at once: score a random subset")
        return generated
    from aae_core.molecules.generation import MoleculeGenerator
    from aae_core.registry import load_model

    require_family(args.model, "molecules", "aae-lab evaluate")
    generator = MoleculeGenerator(load_model(args.model))
    return sample_with_progress(generator, args.n, getattr(args, "temperature", 1.0), getattr(args, "seed", 0),
                                progress)


def _write_metrics(metrics: dict, path: Path) -> None:
    with atomic_output(path) as tmp:
        if path.suffix.lower() == ".json":
            clean = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in metrics.items()}
            tmp.write_text(json.dumps(clean, indent=2) + "\n")
        else:
            to_frame({"generated": metrics}).to_csv(tmp)
