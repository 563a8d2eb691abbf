"""Lead optimisation for the Optimise page: a search (:func:`aae_core.molecules.optimization.optimize`) run in a
worker thread that records every decoded proposal as it comes, the Pareto front of the proposals, and the search
path placed on the latent map.

The worker makes no Streamlit calls: it writes into a plain :class:`OptimizationJob` kept in the session's state,
which the page polls from a fragment, as the Train page does with its training run (:mod:`dashboard.jobs`). At most
:data:`MAX_RUNNING` searches run at once in the server; a search whose browser session has gone for
:data:`GONE_S` seconds stops by itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from aae_core.exceptions import AAELabError, ConfigError
from aae_core.latent import Projection
from aae_core.molecules import chem
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.molecules.latent_quality import fingerprints, tanimoto
from aae_core.molecules.optimization import (
    PROPERTY_COLUMNS,
    Constraints,
    Objective,
    OptimizationResult,
    PropertyPredictor,
    SearchConfig,
    molecule_properties,
    optimize,
    property_predictor,
    start_molecule,
)
from aae_core.registry import LoadedModel
from dashboard import jobs
from dashboard.services.models import mtime

JOB = "optimise_job"  # session-state key of the session's OptimizationJob (running or finished) or None
MAX_RUNNING = 2  # searches at once in the whole server (each takes a CPU core)
MAX_BUDGET = 2_000  # molecules decoded by one search in the app (about a minute on one core)
MAX_PREDICTORS = 8  # fitted regressors kept (a few hundred kB each)
GONE_S = 30.0  # seconds a search goes on after its browser session disconnected
#: Objectives the page offers: label -> (objective spec with {lo} and {hi} for windows, default window or None).
OBJECTIVES = {
    "QED (drug-likeness, 0-1)": ("qed", None),
    "penalized logP (logP - SA - large rings)": ("plogp", None),
    "SA score (synthetic accessibility, lower is easier)": ("sa", None),
    "logP in a window": ("logp[{lo},{hi}]", (1.0, 3.0)),
    "MW in a window (Da)": ("mw[{lo},{hi}]", (300.0, 400.0)),
}
#: Columns of the proposals table: one row per decoded molecule, in decoding order.
PROPOSAL_COLUMNS = ["evaluation", "smiles", "valid", "similarity", "objective", "feasible"]
FOUND_COLUMNS = ["smiles", "similarity", "objective", *PROPERTY_COLUMNS]

_running: list[OptimizationJob] = []  # the server's searches, for MAX_RUNNING
_lock = threading.Lock()
_predictors: dict[tuple, PropertyPredictor] = {}  # (model path, mtime, seed) -> fitted regressor (gradient method)


class Cancelled(Exception):
    """Raised inside the worker to stop a search (cancel button, or its session has gone)."""


def start_values(smiles: str, objective: Objective, constraints: Constraints | None = None) -> dict:
    """The start molecule's ``smiles`` (canonical), ``objective`` and :data:`PROPERTY_COLUMNS`, after checking
    ``constraints`` against it.

    Raises
    ------
    DataError
        For an empty, over-long or invalid SMILES.
    ConfigError
        For an impossible constraint (see :meth:`~aae_core.molecules.optimization.Constraints.queries`).
    """
    mol = start_molecule(smiles)
    if constraints is not None:
        constraints.queries(mol)
    props = molecule_properties(mol)
    return {"smiles": chem.canonicalize(smiles.strip()), "objective": float(objective.value(props)), **props}


@dataclass
class OptimizationJob(jobs.ThreadedJob):
    """One search and everything the page shows about it.

    ``status`` goes ``starting`` -> ``fitting the start code`` -> ``searching`` -> ``finished`` | ``cancelled`` |
    ``failed``. ``proposals`` holds a dict per decoded molecule (:data:`PROPOSAL_COLUMNS`; similarity and objective
    NaN where invalid; ``feasible``: every constraint holds), ``codes`` the decoded codes batch by batch, ``history``
    the search's own records (see :class:`~aae_core.molecules.optimization.OptimizationResult`), ``result`` the
    finished search (None before, and after a cancelled or failed one), ``error`` why it failed. ``cancel()`` stops
    it before the next batch is decoded; what was found so far stays.
    """

    loaded: LoadedModel
    model_label: str
    start: str
    objective: Objective
    constraints: Constraints
    config: SearchConfig
    alive: Callable[[], bool] | None = None  # whether the browser session is still there (None: always)
    status: str = "starting"
    proposals: list[dict] = field(default_factory=list)
    codes: list[np.ndarray] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    result: OptimizationResult | None = None
    error: str | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    thread: threading.Thread | None = None

    def __post_init__(self):
        self.start_row = start_values(self.start, self.objective)
        self.queries = self.constraints.queries(start_molecule(self.start))
        self._start_bits = fingerprints([self.start_row["smiles"]])[0]
        self._scored: dict[str, dict] = {}
        self._last_alive = self.started

    def begin(self) -> OptimizationJob:
        """Start the search in a daemon thread; returns self."""
        self.thread = threading.Thread(target=self._run, name="aae-lab-optimise", daemon=True)
        self.thread.start()
        return self

    @property
    def evaluations(self) -> int:
        return len(self.proposals)

    @property
    def progress(self) -> float:
        """Share of the budget decoded, 0-1."""
        return min(1.0, self.evaluations / self.config.budget)

    @property
    def elapsed_s(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def proposals_frame(self) -> pd.DataFrame:
        """Every proposal so far (:data:`PROPOSAL_COLUMNS`), in decoding order."""
        return pd.DataFrame(list(self.proposals), columns=PROPOSAL_COLUMNS)

    def found(self) -> pd.DataFrame:
        """The distinct valid molecules other than the start that satisfy every constraint, best objective first
        (:data:`FOUND_COLUMNS`): the finished search's own table, or the same built from the proposals so far."""
        return self.result.found if self.result is not None else self.found_so_far()

    def found_so_far(self) -> pd.DataFrame:
        """:meth:`found` built from the proposals (the same table as the finished search's, while it runs)."""
        rows = [self._scored[s] for s in dict.fromkeys(p["smiles"] for p in list(self.proposals) if p["feasible"])]
        frame = pd.DataFrame(rows, columns=FOUND_COLUMNS)
        return frame.sort_values("objective", ascending=False, kind="stable").reset_index(drop=True)

    def path(self) -> np.ndarray:
        """Every decoded code so far, (evaluations, latent_dim) float32."""
        codes = list(self.codes)
        return np.vstack(codes).astype(np.float32) if codes else np.zeros((0, self.loaded.config.latent_dim),
                                                                           np.float32)

    # -- the worker --------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            generator = _RecordingGenerator(self.loaded, self)
            predictor = None
            if self.config.method == "gradient":
                self.status = "fitting a property regressor"
                predictor = _predictor(generator, self.objective, self.config.seed)
            self.status = "fitting the start code"
            self.result = optimize(generator, self.start, self.objective, self.constraints, self.config, predictor,
                                   progress=self.history.append)
            self.status = "finished"
        except Cancelled:
            self.status = "cancelled"
        except AAELabError as err:
            self.error, self.status = str(err), "failed"
        except Exception as err:  # the thread must not die silently: the page shows the message
            self.error, self.status = f"unexpected {type(err).__name__}: {err}", "failed"
        finally:
            self.ended = time.monotonic()

    def _check_going(self) -> None:
        if self.stop_event.is_set():
            raise Cancelled
        if self.alive is None or self.alive():
            self._last_alive = time.monotonic()
        elif time.monotonic() - self._last_alive > GONE_S:
            raise Cancelled

    def _record(self, codes: np.ndarray, smiles: list[str], valid: np.ndarray) -> None:
        """Score a decoded batch as the search does (same fingerprints, properties and objective) and keep it."""
        self.status = "searching"
        similarity = tanimoto(self._start_bits, fingerprints([s if v else None for s, v in zip(smiles, valid,
                                                                                                strict=True)]))
        for text, ok, sim in zip(smiles, valid, similarity, strict=True):
            row = self._score(text, float(sim)) if ok else None
            feasible = row is not None and row["violation"] == 0 and text != self.start_row["smiles"]
            self.proposals.append({"evaluation": len(self.proposals) + 1, "smiles": text, "valid": bool(ok),
                                   "similarity": row["similarity"] if row else np.nan,
                                   "objective": row["objective"] if row else np.nan, "feasible": feasible})
        self.codes.append(np.asarray(codes, dtype=np.float32))

    def _score(self, smiles: str, similarity: float) -> dict:
        if smiles not in self._scored:
            mol = chem.mol_from_smiles(smiles)
            props = molecule_properties(mol)
            self._scored[smiles] = {"smiles": smiles, "similarity": similarity,
                                    "objective": float(self.objective.value(props)), **props,
                                    "violation": self.constraints.violation(mol, similarity, self.queries)}
        return self._scored[smiles]


class _RecordingGenerator(MoleculeGenerator):
    """A generator that hands every decoded batch to its job, and stops the search when the job is cancelled."""

    def __init__(self, loaded: LoadedModel, job: OptimizationJob):
        super().__init__(loaded)
        self.job = job

    def decode_marked(self, z, *args, **kwargs):
        self.job._check_going()
        smiles, valid = super().decode_marked(z, *args, **kwargs)
        self.job._record(z.numpy(), smiles, valid)
        return smiles, valid


def _predictor(generator: MoleculeGenerator, objective: Objective, seed: int) -> PropertyPredictor:
    """:func:`property_predictor`, a fitted one kept per model and seed (fitting takes tens of seconds)."""
    head = getattr(generator.model, "property_head", None)
    if head is not None and objective.needs <= set(generator.loaded.config.properties):
        return property_predictor(generator, objective, seed)
    key = (str(generator.loaded.path), mtime(generator.loaded.path), seed)
    if key not in _predictors:
        predictor = property_predictor(generator, objective, seed)
        with _lock:
            while len(_predictors) >= MAX_PREDICTORS:
                _predictors.pop(next(iter(_predictors)))
            _predictors[key] = predictor
    return _predictors[key]


def start_search(job: OptimizationJob) -> OptimizationJob:
    """Start ``job`` unless :data:`MAX_RUNNING` searches are running in the server; returns it.

    Raises
    ------
    jobs.LimitError
        If the server is running as many searches as it allows.
    """
    with _lock:
        _running[:] = [j for j in _running if j.running]
        if len(_running) >= MAX_RUNNING:
            raise jobs.LimitError(f"the server is already running {len(_running)} searches, as many as it allows at "
                                  "once: try again in a minute")
        _running.append(job.begin())
    return job


def objective_spec(label: str, window: tuple[float, float] | None = None) -> Objective:
    """The :class:`Objective` of a label of :data:`OBJECTIVES` (``window``: its [lo, hi] for window terms).

    Raises
    ------
    ConfigError
        For an unknown label or a bad window.
    """
    if label not in OBJECTIVES:
        raise ConfigError(f"unknown objective {label!r}; choose one of {', '.join(OBJECTIVES)}")
    spec, default = OBJECTIVES[label]
    lo, hi = window or default or (0.0, 0.0)
    return Objective.parse(spec.format(lo=lo, hi=hi))


def pareto_front(frame: pd.DataFrame) -> pd.DataFrame:
    """The distinct valid proposals of ``frame`` (columns ``smiles``, ``similarity``, ``objective``) that no other
    beats on both similarity and objective (ties kept once), sorted by similarity, highest first."""
    points = frame.dropna(subset=["similarity", "objective"]).drop_duplicates("smiles")
    points = points.sort_values(["similarity", "objective"], ascending=False, kind="stable")
    best, keep = -np.inf, []
    for objective in points["objective"]:
        keep.append(objective > best)
        best = max(best, objective)
    return points[np.array(keep, dtype=bool)].reset_index(drop=True)


def batch_centres(path: np.ndarray, batch: int) -> np.ndarray:
    """The mean code of each decoded batch of ``batch`` rows of ``path`` (n, latent_dim): the search's track."""
    return np.array([path[i: i + batch].mean(axis=0) for i in range(0, len(path), batch)]).reshape(-1, path.shape[1])


# -- figures -----------------------------------------------------------------------------------------
#: Colours of the search's figures: the start as on the latent map ("your molecule"), molecules that keep every
#: constraint in the generated-molecule green, the rest grey, the Pareto front in black.
COLORS = {"start": "#E45756", "feasible": "#54A24B", "infeasible": "#BAB0AC", "front": "#222222", "best": "#EECA3B",
          "path": "#4C78A8"}


def proposals_figure(job: OptimizationJob) -> go.Figure:
    """Objective against similarity to the start of every distinct valid proposal so far: those that keep every
    constraint in green, the others grey, the Pareto front of the proposals and the start (no other point beats a
    front point on both: from the start, the molecules that trade similarity for a better objective) as a black
    line, the start as a red star, the similarity threshold as a dashed line."""
    proposals = job.proposals_frame()
    points = proposals.dropna(subset=["similarity"]).drop_duplicates("smiles")
    fig = go.Figure()
    for feasible, name in ((False, "valid, breaks a constraint"), (True, "keeps every constraint")):
        rows = points[points["feasible"] == feasible]
        fig.add_scatter(x=rows["similarity"], y=rows["objective"], mode="markers", name=f"{name} ({len(rows)})",
                        marker={"size": 7, "color": COLORS["feasible" if feasible else "infeasible"],
                                "opacity": 0.8}, hovertext=rows["smiles"],
                        hovertemplate="%{hovertext}<br>similarity %{x:.2f}, objective %{y:.3f}<extra></extra>")
    front = pareto_front(pd.concat([points, pd.DataFrame([{**job.start_row, "similarity": 1.0}])], ignore_index=True))
    fig.add_scatter(x=front["similarity"], y=front["objective"], mode="lines+markers", name="Pareto front",
                    line={"color": COLORS["front"], "width": 2, "shape": "hv"},
                    marker={"size": 9, "color": "rgba(0,0,0,0)", "line": {"color": COLORS["front"], "width": 2}},
                    hovertext=front["smiles"],
                    hovertemplate="%{hovertext}<br>similarity %{x:.2f}, objective %{y:.3f}<extra>front</extra>")
    fig.add_scatter(x=[1.0], y=[job.start_row["objective"]], mode="markers", name="start molecule",
                    marker={"symbol": "star", "size": 18, "color": COLORS["start"], "line": {"color": "black",
                                                                                             "width": 1}},
                    hovertext=[job.start_row["smiles"]], hovertemplate="%{hovertext}<extra>start</extra>")
    if job.constraints.min_similarity > 0:
        fig.add_vline(x=job.constraints.min_similarity, line={"dash": "dash", "color": "grey"},
                      annotation_text=f"similarity ≥ {job.constraints.min_similarity:g}",
                      annotation_position="top right")
    fig.add_hline(y=job.start_row["objective"], line={"dash": "dot", "color": COLORS["start"], "width": 1})
    fig.update_layout(height=420, xaxis_title="Tanimoto similarity to the start (Morgan r=2)",
                      yaxis_title=f"objective: {job.objective.spec}", plot_bgcolor="white",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})
    fig.update_xaxes(range=[-0.02, 1.04], showgrid=True, gridcolor="#eee", zeroline=False)
    fig.update_yaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    return fig


def add_search_path(fig: go.Figure, projection: Projection, job: OptimizationJob) -> go.Figure:
    """Draw the finished search on a latent map ``fig`` whose 2-D view is ``projection``: every decoded code as
    a small point coloured by when it was decoded, the mean code of each batch joined as the search's track, the
    start code (fitted to the decoder) as a red star and the best molecule found as a gold star. Returns ``fig``."""
    path = job.path()
    xy = projection.transform(path)
    order = np.arange(1, len(path) + 1)
    fig.add_trace(go.Scattergl(
        x=xy[:, 0], y=xy[:, 1], mode="markers", name="proposals (colour: order decoded)",
        marker={"size": 5, "color": order, "colorscale": "Viridis", "opacity": 0.7,
                "colorbar": {"title": {"text": "decoded #", "side": "right"}, "len": 0.6}},
        hovertext=[p["smiles"] for p in job.proposals[: len(path)]],
        hovertemplate="%{hovertext}<extra>proposal</extra>"))
    track = projection.transform(batch_centres(path, job.config.popsize))
    fig.add_trace(go.Scattergl(x=track[:, 0], y=track[:, 1], mode="lines", name="search track (batch means)",
                               line={"color": COLORS["front"], "width": 2}, hoverinfo="skip"))
    if job.result is not None:
        start = projection.transform(job.result.start_code[None])
        fig.add_trace(go.Scattergl(x=start[:, 0], y=start[:, 1], mode="markers", name="start code",
                                   marker={"symbol": "star", "size": 20, "color": COLORS["start"],
                                           "line": {"color": "black", "width": 1.5}},
                                   hovertext=[job.start_row["smiles"]],
                                   hovertemplate="%{hovertext}<extra>start</extra>"))
    found = job.found()
    if len(found):
        best = found.iloc[0]["smiles"]
        rows = [i for i, p in enumerate(job.proposals[: len(path)]) if p["smiles"] == best][:1]
        fig.add_trace(go.Scattergl(x=xy[rows, 0], y=xy[rows, 1], mode="markers", name="best molecule found",
                                   marker={"symbol": "star", "size": 20, "color": COLORS["best"],
                                           "line": {"color": "black", "width": 1.5}},
                                   hovertext=[best], hovertemplate="%{hovertext}<extra>best</extra>"))
    return fig
