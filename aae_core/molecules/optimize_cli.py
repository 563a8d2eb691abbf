"""``aae-lab optimize``: lead optimisation in a molecule model's latent space, from the command line.

The search itself is :func:`aae_core.molecules.optimization.optimize`; this module turns parsed arguments into its
inputs, checks them before any work, draws a progress bar and writes the molecules found.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from aae_core.checkpoints import atomic_output, check_output, require_family
from aae_core.molecules import chem
from aae_core.molecules.optimization import (
    PROPERTY_COLUMNS,
    Constraints,
    Objective,
    OptimizationResult,
    SearchConfig,
    start_molecule,
)

#: Columns of the CSV that ``aae-lab optimize`` writes, in order.
OUTPUT_COLUMNS = ("smiles", "similarity", "objective", *PROPERTY_COLUMNS)
FLOAT_FORMAT = "%.6g"  # six significant digits: 0.512821, 237.262


def search_inputs(args: argparse.Namespace) -> tuple[str, Objective, Constraints, SearchConfig]:
    """(canonical start SMILES, objective, constraints, search settings) from the parsed arguments, every one
    checked: nothing is loaded or searched before they all pass.

    Raises
    ------
    DataError
        For an empty, over-long (:data:`~aae_core.molecules.chem.MAX_SMILES_CHARS`) or invalid start SMILES, or an
        over-long ``--smarts``.
    ConfigError
        For an unknown objective, an invalid SMARTS or one the start molecule lacks, or a search setting out of range.
    """
    mol = start_molecule(args.smiles)
    smarts = tuple(chem.check_smiles_length(s.strip(), "--smarts") for s in args.smarts or ())
    objective = Objective.parse(args.objective)
    constraints = Constraints(args.min_similarity, smarts, args.lipinski)
    constraints.queries(mol)
    config = SearchConfig(args.method, args.budget, args.popsize, args.sigma0, args.step,
                          refine_steps=args.refine_steps, greedy=args.temperature is None,
                          temperature=args.temperature or 1.0, anchors=args.anchors or SearchConfig.anchors,
                          seed=args.seed)
    config.check()
    return args.smiles.strip(), objective, constraints, config


def optimize_cli(args: argparse.Namespace) -> int:
    """Run ``aae-lab optimize`` from parsed arguments (see its ``--help``). Writes the ``-n`` best molecules found as
    CSV (:data:`OUTPUT_COLUMNS`, best objective first; only the header when none is found) to ``args.out``
    (atomically, checked before any work) or standard output; the start molecule's values and a summary go to
    standard error, with a tqdm bar while searching (none with ``args.quiet``).

    Raises
    ------
    DataError, ConfigError
        As :func:`search_inputs`, or when the model cannot encode the start molecule.
    CheckpointError
        If ``args.model`` is not a molecule checkpoint.
    OutputError
        If ``args.out`` cannot be written.
    """
    from aae_core.molecules.generation import MoleculeGenerator
    from aae_core.molecules.optimization import optimize
    from aae_core.registry import load_model

    start, objective, constraints, config = search_inputs(args)
    if args.out:
        check_output(args.out)
    require_family(args.model, "molecules", "aae-lab optimize")
    generator = MoleculeGenerator(load_model(args.model), constrained=args.constrained)
    with _Bar(config.budget, args.quiet) as bar:
        result = optimize(generator, start, objective, constraints, config, progress=bar)
    print(start_line(result), file=sys.stderr)
    found = result.found.head(args.n)
    _write(found, args.out)
    print(summary_line(result, constraints, len(found), args.out), file=sys.stderr)
    return 0


def start_line(result: OptimizationResult) -> str:
    """``start <SMILES>: objective -6.21, QED 0.43, logP ..., penalized_logP -6.21`` (the start's own values)."""
    values = ", ".join(f"{name} {result.start[name]:.3f}" for name in PROPERTY_COLUMNS)
    return f"start {result.start['smiles']}: objective {result.start['objective']:.3f}, {values}"


def summary_line(result: OptimizationResult, constraints: Constraints, written: int, out: str | None) -> str:
    """What the search found, in one line: molecules decoded, valid share, how many satisfy the constraints, the
    best improvement and, when none was found, how close the decoder came to the similarity threshold."""
    last = result.history[-1]
    valid = sum(h["valid"] * n for h, n in zip(result.history, _batch_sizes(result), strict=True))
    line = (f"decoded {result.evaluations} molecules ({valid / result.evaluations:.0%} valid) in {result.wall_s:.1f} s;"
            f" {last['found']} distinct molecule(s) satisfy the constraints")
    if len(result.found):
        best = result.found.iloc[0]
        line += (f"; best objective {best['objective']:.3f} ({best['objective'] - result.start['objective']:+.3f} "
                 f"over the start) at similarity {best['similarity']:.2f}")
    elif constraints.min_similarity > 0:
        line += (f"; the closest valid molecule decoded had similarity {last['closest']:.2f} (threshold "
                 f"{constraints.min_similarity:g}): try a larger --budget or a lower --min-similarity")
    return line + (f"; wrote {written} rows to {out}" if out else "")


def _batch_sizes(result: OptimizationResult) -> list[int]:
    counts = [h["evaluations"] for h in result.history]
    return [b - a for a, b in zip([0, *counts[:-1]], counts, strict=True)]


def _write(found: pd.DataFrame, out: str | None) -> None:
    frame = found[list(OUTPUT_COLUMNS)]
    if not out:
        frame.to_csv(sys.stdout, index=False, float_format=FLOAT_FORMAT)
        return
    with atomic_output(out) as tmp, open(tmp, "w", newline="") as handle:
        frame.to_csv(handle, index=False, float_format=FLOAT_FORMAT)


class _Bar:
    """The search's progress: a tqdm bar over the decoding budget, its postfix the best objective so far."""

    def __init__(self, budget: int, quiet: bool):
        self.budget, self.quiet, self.bar = budget, quiet, None

    def __enter__(self) -> _Bar:
        if not self.quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=self.budget, desc="fitting the start code", unit="mol", dynamic_ncols=True,
                            file=sys.stderr)
        return self

    def __call__(self, entry: dict) -> None:
        if self.bar is None:
            return
        self.bar.set_description("searching")
        best = entry["best_objective"]
        self.bar.set_postfix({"found": entry["found"], "best": "none" if best != best else f"{best:.3f}"},
                             refresh=False)
        self.bar.update(entry["evaluations"] - self.bar.n)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
