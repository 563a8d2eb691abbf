"""Compare trained models side by side: generation metrics, loss curves and latent quality.

For every checkpoint: ``n`` prior samples scored with :func:`aae_core.molecules.metrics.evaluate` (MOSES columns:
validity, uniqueness, novelty, FCD, SNN, IntDiv, property distances, ...), shown beside the published
MOSES AAE and VAE rows (Polykovskiy et al. 2020, 30,000 samples each); the training curves of every run
overlaid (reconstruction in nats per token; the VAE's KL in nats per molecule; the AAE's discriminator
and generator cross-entropies); and :mod:`aae_core.molecules.latent_quality` on held-out molecules.
``aae-lab compare`` writes it all to a folder; the dashboard's Compare page calls the same functions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from aae_core.checkpoints import (
    atomic_output,
    check_output,
    check_output_folder,
    load_checkpoint,
    require_family,
    save_checkpoint,
)
from aae_core.exceptions import DataError
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.molecules.latent_quality import LatentQuality, held_out_molecules, latent_figure, latent_quality
from aae_core.molecules.metrics.progress import Progress, report
from aae_core.registry import load_model

#: Columns of the summary table (every metric of ``evaluate`` goes to ``metrics.csv``).
REPORT_COLUMNS = ("valid", "unique@1000", "Novelty", "FCD/Test", "SNN/Test", "IntDiv", "logP", "SA", "QED",
                  "weight")
#: Latent-quality columns of the summary table.
LATENT_COLUMNS = ("mmd2", "prior_auc", "mean_gap", "cov_gap", "posterior_variance", "exact_match",
                  "reconstruction_tanimoto", "neighbour_ratio")
#: Loss-curve panels: (title, history terms drawn in it); a panel's terms are drawn in the dash styles of
#: :data:`DASHES`, in order.
CURVE_PANELS = (
    ("reconstruction (nats/token)", ("reconstruction",)),
    ("KL (nats/molecule)", ("kl",)),
    ("adversarial BCE: discriminator (solid), generator (dot)", ("discriminator", "generator")),
)
DASHES = ("solid", "dot")


@dataclass
class RunReport:
    """Everything the comparison knows about one checkpoint."""

    name: str
    path: Path
    metrics: dict[str, float]
    history: dict
    latent: LatentQuality


def evaluate_run(path: str | Path, n: int = 2000, seed: int = 0, reference=None, train=None,
                 held_out: str = "moses-test", n_held_out: int = 1000, *, n_jobs: int = 1,
                 progress: Progress | None = None, neighbour_pool: str = "moses-train",
                 n_pool: int = 0) -> RunReport:
    """Sample ``n`` molecules from the checkpoint at ``path`` and score them against ``reference`` (a
    :class:`~aae_core.molecules.metrics.ReferenceSet`; ``None``: the MOSES test split) with novelty against
    ``train`` (SMILES; ``None``: the shipped MOSES train cut); measure latent quality on the first
    ``n_held_out`` molecules of ``held_out`` (shipped name or file), with ``n_pool`` > 0 the neighbour similarity
    among the first ``n_pool`` encodable molecules of ``neighbour_pool`` (shipped name or file). Sampling, every
    metric step and the latent quality report to ``progress`` (:mod:`aae_core.molecules.metrics.progress`), their
    labels prefixed with the run's name; ``n_jobs`` worker processes do the RDKit work (see
    :func:`aae_core.molecules.metrics.evaluate`). Raises :class:`CheckpointError` if ``path`` is not a molecule
    checkpoint."""
    from aae_core.molecules.metrics import evaluate, sample_with_progress

    loaded = _load_molecule_model(path)
    step = _prefixed(progress, loaded.name)
    samples = sample_with_progress(MoleculeGenerator(loaded), n, seed=seed, progress=step)
    metrics = evaluate(samples, reference, train, n_jobs, k=(1000,), progress=step)
    held = held_out_molecules(loaded, held_out, n_held_out)
    pool = held_out_molecules(loaded, neighbour_pool, n_pool) if n_pool else None
    report(step, "latent quality", 0, len(held))
    quality = latent_quality(loaded, held, seed, neighbour_pool=pool)
    report(step, "latent quality", len(held), len(held))
    return RunReport(loaded.name, Path(path), metrics, loaded.history, quality)


def _prefixed(progress: Progress | None, prefix: str) -> Progress | None:
    """``progress`` with ``prefix: `` before every stage label."""
    if progress is None:
        return None
    return lambda stage, done, total: progress(f"{prefix}: {stage}", done, total)


def _load_molecule_model(path: str | Path):
    require_family(path, "molecules", "compare")
    return load_model(path)


def metrics_table(runs: Mapping[str, Mapping[str, float]], paper: bool = True) -> pd.DataFrame:
    """One row per run (and the MOSES paper's AAE and VAE rows when ``paper``), MOSES columns."""
    from aae_core.molecules.metrics import MOSES_PAPER, to_frame

    rows = dict(runs)
    if paper:
        rows |= {f"MOSES {model} (paper)": values for model, values in MOSES_PAPER.items()}
    return to_frame(rows)


def latent_table(reports: Sequence[RunReport]) -> pd.DataFrame:
    """One row per run, one column per latent-quality metric."""
    frame = pd.DataFrame({r.name: r.latent.metrics for r in reports}).T
    frame.index.name = "run"
    return frame


def curves_figure(histories: Mapping[str, dict]) -> go.Figure:
    """Training curves of several runs overlaid, one colour per run, x = training step; a panel per
    kind of term (:data:`CURVE_PANELS`); a run appears only in the panels of the terms it records."""
    fig = make_subplots(rows=1, cols=len(CURVE_PANELS), subplot_titles=[title for title, _ in CURVE_PANELS])
    colours = plotly.colors.qualitative.Plotly
    for index, (name, history) in enumerate(histories.items()):
        steps, in_legend = history.get("steps", []), True
        for col, (_, terms) in enumerate(CURVE_PANELS, start=1):
            for term, dash in zip(terms, DASHES, strict=False):
                points = [(r["step"], r[term]) for r in steps if term in r]
                if not points:
                    continue
                fig.add_trace(go.Scatter(
                    x=[p[0] for p in points], y=[p[1] for p in points], mode="lines", name=name, legendgroup=name,
                    showlegend=in_legend, line={"color": colours[index % len(colours)], "dash": dash},
                    hovertemplate=f"{name} {term}: %{{y:.3f}} at step %{{x}}<extra></extra>"), row=1, col=col)
                in_legend = False
    fig.update_xaxes(title_text="step")
    fig.update_layout(title="training curves", height=400)
    return fig


def _markdown(frame: pd.DataFrame) -> str:
    header = [frame.index.name or "", *map(str, frame.columns)]
    rows = [[str(i), *("" if pd.isna(v) else f"{v:.3f}" for v in row)] for i, row in zip(
        frame.index, frame.itertuples(index=False), strict=True)]
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def write_report(reports: Sequence[RunReport], out: str | Path, command: str = "") -> list[Path]:
    """Write ``metrics.csv``, ``latent_quality.csv``, ``report.md`` (summary tables), ``report.html``
    (tables and every figure, self-contained) and, only if ``kaleido`` is installed, PNGs of the figures,
    each atomically (:func:`~aae_core.checkpoints.atomic_output`). Returns the paths written.

    Raises
    ------
    OutputError
        If ``out`` is not a folder that can be created and written, or a file cannot be written.
    """
    out = check_output_folder(out)
    metrics = metrics_table({r.name: r.metrics for r in reports})
    latent = latent_table(reports)
    summary = metrics[[c for c in REPORT_COLUMNS if c in metrics.columns]]
    figures = {"loss_curves": curves_figure({r.name: r.history for r in reports}),
               **{f"latent_{r.name}": latent_figure(r.latent) for r in reports}}
    _write(out / "metrics.csv", metrics.to_csv)
    _write(out / "latent_quality.csv", latent.to_csv)
    intro = f"Command: `{command}`\n\n" if command else ""
    latent_summary = latent[[c for c in latent.columns if c in LATENT_COLUMNS or c.startswith("r2_")]]
    markdown = (f"# Model comparison\n\n{intro}## Generation (MOSES metrics)\n\n{_markdown(summary)}\n\n"
                f"## Latent quality (held-out molecules)\n\n{_markdown(latent_summary)}\n")
    _write(out / "report.md", lambda tmp: tmp.write_text(markdown))
    html = [summary.to_html(float_format="{:.3f}".format), latent_summary.to_html(float_format="{:.3f}".format)]
    html += [fig.to_html(full_html=False, include_plotlyjs=i == 0) for i, fig in enumerate(figures.values())]
    page = f"<html><body><h1>Model comparison</h1><p>{command}</p>{''.join(html)}</body></html>"
    _write(out / "report.html", lambda tmp: tmp.write_text(page))
    written = [out / name for name in ("metrics.csv", "latent_quality.csv", "report.md", "report.html")]
    return written + _write_pngs(figures, out)


def _write_pngs(figures: Mapping[str, go.Figure], out: Path) -> list[Path]:
    try:
        import kaleido  # noqa: F401  (optional: static export)
    except ImportError:
        return []
    for name, fig in figures.items():
        _write(out / f"{name}.png", lambda tmp, fig=fig: fig.write_image(tmp, format="png", width=1200))
    return [out / f"{name}.png" for name in figures]


def _write(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` to a temporary file that then replaces ``path`` (:func:`~aae_core.checkpoints.atomic_output`)."""
    with atomic_output(path) as tmp:
        write(tmp)


def annotate_card(path: str | Path, report: RunReport, command: str) -> None:
    """Store the report's summary metrics, and the ``command`` that measured them, in the model card of
    the checkpoint at ``path`` (``card["evaluation"]``); weights, optimizer and RNG state are written
    back unchanged (atomically, by :func:`save_checkpoint`)."""
    ckpt = load_checkpoint(path)
    values = {k: report.metrics.get(k) for k in REPORT_COLUMNS} | report.latent.metrics
    ckpt.meta.setdefault("card", {})["evaluation"] = {
        "command": command, "measured": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "metrics": {k: None if v is None or math.isnan(v) else round(v, 4) for k, v in values.items()}}
    save_checkpoint(path, ckpt.model_state, ckpt.meta, ckpt.optimizer_states, ckpt.rng_state)


def compare_runs(paths: Sequence[str | Path], out: str | Path, n: int = 2000, seed: int = 0,
                 reference: str = "moses-test", train: str = "moses-train", held_out: str = "moses-test",
                 n_held_out: int = 1000, command: str = "", annotate: bool = False, *, n_jobs: int = 1,
                 progress: Progress | None = None, n_pool: int = 0) -> list[RunReport]:
    """Evaluate every checkpoint (see :func:`evaluate_run`) and :func:`write_report` to ``out``.

    ``reference`` and ``train`` are ``"moses-test"`` / ``"moses-train"`` or SMILES files; with ``n_pool`` > 0,
    latent neighbours are looked up among the first ``n_pool`` molecules of ``train``. With
    ``annotate``, each checkpoint's card also gets its numbers (:func:`annotate_card`). The reference statistics
    (first use), sampling and every metric step report to ``progress``; ``n_jobs`` worker processes do the
    RDKit work.

    Raises
    ------
    DataError
        If two checkpoints have the same name, or a file is missing.
    CheckpointError
        If a path is not a molecule checkpoint.
    OutputError
        If ``out`` (or, with ``annotate``, a checkpoint) cannot be written; checked before any work.
    """
    from aae_core.molecules.metrics import load_reference, read_smiles

    for path in paths:
        require_family(path, "molecules", "compare")
    check_output_folder(out)
    for path in paths if annotate else ():
        check_output(path, "checkpoint to annotate")
    names = [load_model(p).name for p in paths]
    if len(set(names)) != len(names):
        raise DataError(f"runs must have distinct names, got {names}; rename a checkpoint file")
    reference_set = load_reference(None if reference == "moses-test" else reference, n_jobs=n_jobs, progress=progress)
    train_smiles = None if train == "moses-train" else read_smiles(train)
    reports = [evaluate_run(p, n, seed, reference_set, train_smiles, held_out, n_held_out, n_jobs=n_jobs,
                            progress=progress, neighbour_pool=train, n_pool=n_pool) for p in paths]
    write_report(reports, out, command)
    if annotate:
        for report in reports:
            annotate_card(report.path, report, command)
    return reports
