"""Reusable pieces of the screens: colours, the model guard, molecule grids, the latent map, loss and
divergence charts, model cards and load reports. Computation lives in :mod:`dashboard.services`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from aae_core.exceptions import AAELabError
from aae_core.molecules import chem
from aae_core.registry import LoadedModel
from dashboard import state
from dashboard.services import drawings, exports, latent_map, models, properties, training

#: One colour per kind of point, on every page: what the prior says, what the encoder does with training
#: molecules, what the decoder generates, and the user's own molecule.
COLORS = {"prior": "#F58518", "prior_ring": "#B35806", "training": "#4C78A8", "generated": "#54A24B",
          "yours": "#E45756", "neighbour": "#B279A2"}
KIND_LABELS = {"training": "training molecules, encoded", "generated": "generated molecules, encoded back",
               "prior": "prior samples z ~ p(z)", "yours": "your molecule"}
#: Ten distinct colours (Tableau 10), one per digit / class on the image pages.
DIGIT_COLORS = ("#4C78A8", "#F58518", "#E45756", "#72B7B2", "#54A24B", "#EECA3B", "#B279A2", "#FF9DA6", "#9D755D",
                "#BAB0AC")
RUN_COLORS = ("#4C78A8", "#E45756", "#54A24B", "#B279A2", "#F58518", "#72B7B2", "#9D755D", "#FF9DA6")
TERM_TITLES = {"reconstruction": "reconstruction (nats/token)", "discriminator": "discriminator BCE (nats)",
               "generator": "generator BCE (nats)", "kl": "KL (nats/molecule)"}
X_LABELS = {"step": "training step", "epoch": "epoch", "time_s": "wall time (s)"}
#: The generation metrics a model card shows (MOSES names), when its checkpoint has them.
CARD_METRICS = ("valid", "unique@1000", "Novelty", "FCD/Test", "SNN/Test", "Frag/Test", "Scaf/Test", "IntDiv",
                "Filters", "KL score", "reconstruction accuracy")
ROW_HEIGHT = 96  # pixels per row of a molecule table (fits a 200 x 140 drawing scaled down)
NUMBER_FORMATS = {"QED": "%.2f", "logP": "%.2f", "SA": "%.2f", "MW": "%.1f", "distance": "%.2f", "t": "%.2f"}


def current_model() -> tuple[models.ModelRef, LoadedModel]:
    """The model chosen in the sidebar; stops the page with a message when there is none or it fails."""
    choices = models.model_choices()
    ref = choices.get(st.session_state.get(state.MODEL))
    if ref is None:
        st.info("No molecule model yet: train one on the **Train** page (shipped models are read from "
                f"`{models.checkpoint_dir()}`).")
        st.stop()
    try:
        return ref, models.load(ref)
    except AAELabError as err:
        st.error(f"Cannot load {ref.label}: {err}. Pick another model in the sidebar.")
        st.stop()


# -- molecules -------------------------------------------------------------------------------------
def page_of(frame: pd.DataFrame, key: str) -> tuple[pd.DataFrame, int]:
    """The rows of ``frame`` on the page the user picks (:data:`drawings.GRID_PAGE` per page) and the page
    number."""
    pages = max(1, math.ceil(len(frame) / drawings.GRID_PAGE))
    page = st.pagination(pages, key=key) if pages > 1 else 1
    return frame.iloc[(page - 1) * drawings.GRID_PAGE: page * drawings.GRID_PAGE], page


def molecule_table(frame: pd.DataFrame, key: str, selectable: bool = True) -> list[int]:
    """Draw the molecules of ``frame`` (needs a ``smiles`` column) as a table with a drawing per row;
    returns the positions of the rows the user selected."""
    config = {"molecule": st.column_config.ImageColumn("molecule", width="medium"),
              "smiles": st.column_config.TextColumn("SMILES", width="medium")}
    config |= {name: st.column_config.NumberColumn(name, format=fmt, help=chem.PROPERTY_LABELS.get(name))
               for name, fmt in NUMBER_FORMATS.items() if name in frame}
    config |= {"lipinski": st.column_config.NumberColumn("Ro5 violations", format="%d",
                                                         help="Lipinski rule-of-five violations (0-4)")}
    shown = drawings.with_drawings(frame)
    height = 44 + ROW_HEIGHT * min(max(len(frame), 1), 8)  # header, then up to 8 rows without scrolling
    if not selectable:
        st.dataframe(shown, column_config=config, hide_index=True, row_height=ROW_HEIGHT, height=height, key=key)
        return []
    event = st.dataframe(shown, column_config=config, hide_index=True, row_height=ROW_HEIGHT, height=height, key=key,
                         on_select="rerun", selection_mode="multi-row")
    return list(event.selection.rows)


def add_to_basket_button(frame: pd.DataFrame, rows: list[int], source: str, model: str, key: str) -> None:
    """A button that puts the selected rows of ``frame`` into the candidate basket (in a callback, so that
    the sidebar's basket count is already up to date when the app reruns)."""
    label = f"Add {len(rows)} selected to the basket" if rows else "Select rows (left edge) to add them to the basket"
    st.button(label, disabled=not rows, key=key, icon=":material/shopping_basket:", on_click=_add_to_basket,
              args=(frame.iloc[rows]["smiles"].tolist(), source, model))


def _add_to_basket(smiles: list[str], source: str, model: str) -> None:
    added = state.add_to_basket(smiles, source, model)
    st.toast(f"{added} molecule(s) added to the basket ({len(smiles) - added} invalid or already there).")


def download_buttons(frame: pd.DataFrame, stem: str, key: str) -> None:
    """CSV and SDF downloads of ``frame`` with its properties, side by side. The files are made when a button
    is clicked (Streamlit's deferred ``data``), so showing the buttons costs nothing.

    A click must not rerun the app (``on_click="ignore"``): a run that starts while the file is being made
    empties the session's outgoing message queue, dropping the answer with the file's address (the button then
    spins until the browser gives up, 3 minutes later), and every run replaces the deferred files' ids, so a
    click on a button drawn by the previous run finds "Deferred file ... not found"."""
    left, right = st.columns(2)
    left.download_button("Download CSV", lambda: exports.to_csv(properties.with_properties(frame)), f"{stem}.csv",
                         "text/csv", key=f"{key}_csv", on_click="ignore", icon=":material/download:", width="stretch")
    right.download_button("Download SDF", lambda: exports.to_sdf(properties.with_properties(frame)), f"{stem}.sdf",
                          "chemical/x-mdl-sdfile", key=f"{key}_sdf", on_click="ignore", icon=":material/download:",
                          width="stretch")


# -- latent map ------------------------------------------------------------------------------------
def latent_map_figure(view: latent_map.LatentMap, colour_by: str) -> go.Figure:
    """The prior's density under the points of ``view`` and its sigma rings over them; molecules coloured by
    kind (``colour_by == "dataset"``) or by a property; each molecule point carries its row in ``customdata``."""
    overlay, points = view.overlay, view.points
    peak = float(overlay.density.max())
    fig = go.Figure(go.Contour(
        x=overlay.x, y=overlay.y, z=overlay.density, showscale=False, hoverinfo="skip", zmin=0, zmax=peak,
        contours={"start": peak / 10, "end": peak, "size": peak / 10}, line_width=0,
        colorscale=[[0, _rgba(COLORS["prior"], 0.0)], [1, _rgba(COLORS["prior"], 0.55)]],
        name="prior density" if overlay.exact else "prior density (KDE of projected samples)", showlegend=True))
    values = None
    if colour_by != "dataset":
        molecules = points["kind"].isin(["training", "generated"])
        values = pd.Series(np.nan, index=points.index)
        values[molecules] = properties.properties_table(tuple(points.loc[molecules, "smiles"]))[colour_by].to_numpy()
    for kind in ("prior", "training", "generated", "yours"):
        rows = points[points["kind"] == kind]
        if len(rows):
            fig.add_trace(_points_trace(kind, rows, values, colour_by))
    _add_rings(fig, overlay)
    if len(view.neighbours):
        fig.add_trace(go.Scattergl(
            x=view.neighbours["x"], y=view.neighbours["y"], mode="markers", name="nearest neighbours (in latent space)",
            marker={"symbol": "circle-open", "size": 14, "color": COLORS["neighbour"], "line": {"width": 2}},
            hovertext=view.neighbours["smiles"], hovertemplate="%{hovertext}<extra>neighbour</extra>"))
    x_label, y_label = view.projection.axis_labels
    fig.update_layout(height=680, xaxis_title=x_label, yaxis_title=y_label, dragmode="select",
                      legend={"orientation": "h", "yanchor": "top", "y": -0.1, "x": 0},
                      margin={"l": 10, "r": 10, "t": 30, "b": 10}, plot_bgcolor="white")
    fig.update_xaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    fig.update_yaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    if view.projection.linear:
        fig.update_yaxes(scaleanchor="x", scaleratio=1)  # equal units: the sigma rings stay circles
    return fig


def digits_latent_figure(z: np.ndarray, labels: np.ndarray | None, overlay) -> go.Figure:
    """2-D codes ``z`` (n, 2) over the prior's density and sigma rings (``overlay`` from
    :func:`aae_core.latent.prior_overlay`), one colour per label of ``labels`` (n,) int, or one colour without
    labels; equal units on both axes so that the rings stay circles."""
    fig = go.Figure(go.Contour(x=overlay.x, y=overlay.y, z=overlay.density, colorscale="Greys", showscale=False,
                               contours_coloring="heatmap", line_width=0, opacity=0.5, name="prior density",
                               hoverinfo="skip"))
    for i, label in enumerate(np.unique(labels) if labels is not None else [None]):
        rows = z if label is None else z[labels == label]
        name = "images" if label is None else str(label)
        fig.add_scatter(x=rows[:, 0], y=rows[:, 1], mode="markers", name=name,
                        marker={"size": 4, "color": DIGIT_COLORS[i % len(DIGIT_COLORS)]},
                        hovertemplate=f"{name}<br>z = (%{{x:.2f}}, %{{y:.2f}})<extra></extra>")
    _add_rings(fig, overlay, colour="#555555")  # neutral: the ten digit colours include orange
    fig.update_layout(height=640, xaxis_title="z₁", yaxis_title="z₂", legend_title="digit", plot_bgcolor="white")
    fig.update_xaxes(showgrid=True, gridcolor="#eee", zeroline=False)
    fig.update_yaxes(showgrid=True, gridcolor="#eee", zeroline=False, scaleanchor="x", scaleratio=1)
    return fig


def class_table_figure(predicted: np.ndarray, labels: np.ndarray, num_classes: int, clustering: bool) -> go.Figure:
    """Heatmap of image counts: one row per class (or cluster) of ``predicted`` (n,) int in [0, num_classes),
    one column per true label of ``labels`` (n,) int; empty rows and columns are kept. Cluster rows are named
    with their majority label, the label each cluster is scored as (Makhzani et al. 2015, Sec. 6)."""
    table = pd.crosstab(predicted, labels).reindex(index=range(num_classes), columns=range(int(labels.max()) + 1),
                                                    fill_value=0)
    kind = "cluster" if clustering else "predicted"
    rows = [f"{kind} {k}" + (f" → {table.loc[k].idxmax()}" if clustering and table.loc[k].sum() else "")
            for k in table.index]
    fig = go.Figure(go.Heatmap(z=table.to_numpy(), x=[str(c) for c in table.columns], y=rows, colorscale="Blues",
                               text=table.to_numpy(), texttemplate="%{text}", showscale=False,
                               hovertemplate="%{y}, digit %{x}: %{z} images<extra></extra>"))
    fig.update_layout(height=100 + 28 * num_classes, xaxis_title="true digit", xaxis_side="top", xaxis_type="category",
                      yaxis_autorange="reversed", margin={"t": 60, "b": 10})
    return fig


def _add_rings(fig: go.Figure, overlay, colour: str = COLORS["prior_ring"]) -> None:
    """The prior's sigma rings (or support) in ``colour``, as WebGL lines so that they stay above the WebGL
    points, one legend entry for all, each kind of ring labelled once."""
    labelled: set[str] = set()
    name = "prior σ rings (1σ, 2σ, 3σ)" if len(overlay.centres) else "prior support"
    for label, ring in overlay.rings:
        fig.add_trace(go.Scattergl(x=ring[:, 0], y=ring[:, 1], mode="lines", hoverinfo="skip", legendgroup="rings",
                                   name=name, line={"color": colour, "width": 1.5, "dash": "dash"},
                                   showlegend=not labelled))
        if label not in labelled:
            top = ring[np.argmax(ring[:, 1])]
            fig.add_annotation(x=top[0], y=top[1], text=label, showarrow=False, bgcolor="rgba(255,255,255,0.8)",
                               font={"color": colour, "size": 11})
        labelled.add(label)


def _rgba(colour: str, alpha: float) -> str:
    """``"#F58518"``, 0.5 -> ``"rgba(245,133,24,0.5)"``."""
    red, green, blue = (int(colour[i: i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _points_trace(kind: str, rows: pd.DataFrame, values: pd.Series | None, colour_by: str) -> go.Scattergl:
    marker = {"size": 5, "color": COLORS[kind], "opacity": 0.6 if len(rows) <= 3000 else 0.35}
    if kind == "prior":
        marker |= {"size": 4, "opacity": 0.5}
    if kind == "yours":
        marker |= {"size": 20, "symbol": "star", "opacity": 1.0, "line": {"color": "black", "width": 1.5}}
    if values is not None and kind in ("training", "generated"):
        marker |= {"color": values[rows.index], "colorscale": "Viridis", "opacity": 0.75,
                   "colorbar": {"title": {"text": chem.PROPERTY_LABELS[colour_by], "side": "right"}, "len": 0.8},
                   "symbol": "circle" if kind == "training" else "diamond"}
    molecule = kind in ("training", "generated")
    return go.Scattergl(
        x=rows["x"], y=rows["y"], mode="markers", name=KIND_LABELS[kind], marker=marker,
        customdata=rows.index.to_numpy() if molecule else None, hovertext=rows["smiles"] if molecule else None,
        hovertemplate=f"%{{hovertext}}<extra>{kind}</extra>" if molecule else f"{KIND_LABELS[kind]}<extra></extra>")


# -- charts ----------------------------------------------------------------------------------------
def loss_figure(table: pd.DataFrame, x: str, log_y: bool) -> go.Figure:
    """Loss curves from :func:`services.training.loss_table`: a panel per term, a colour per run, the smoothed curve
    over the faint raw one; a dotted line at ln 2 in the adversarial panels (where the discriminator cannot
    tell codes from prior samples)."""
    terms = [t for t in training.LOSS_TERMS if t in set(table["term"])]
    fig = make_subplots(rows=1, cols=len(terms), subplot_titles=[TERM_TITLES[t] for t in terms],
                        horizontal_spacing=0.06)
    for index, (run, rows) in enumerate(table.groupby("run", sort=False)):
        colour, in_legend = RUN_COLORS[index % len(RUN_COLORS)], True
        for col, term in enumerate(terms, start=1):
            curve = rows[rows["term"] == term]
            if curve.empty:
                continue
            mode = "lines" if len(curve) >= 10 else "lines+markers"  # a run of a few records still shows
            fig.add_scatter(x=curve[x], y=curve["value"], mode="lines", line={"color": colour, "width": 1},
                            opacity=0.25, showlegend=False, hoverinfo="skip", row=1, col=col)
            fig.add_scatter(x=curve[x], y=curve["smoothed"], mode=mode, line={"color": colour, "width": 2},
                            name=run, legendgroup=run, showlegend=in_legend, row=1, col=col,
                            hovertemplate=f"{run}<br>{X_LABELS[x]} %{{x}}<br>{term} %{{y:.4f}}<extra></extra>")
            in_legend = False
    for col, term in enumerate(terms, start=1):
        if term in ("discriminator", "generator"):
            fig.add_hline(y=math.log(2), line={"dash": "dot", "color": "grey", "width": 1}, row=1, col=col,
                          annotation_text="ln 2", annotation_position="top left")
    fig.update_xaxes(title_text=X_LABELS[x])
    fig.update_yaxes(type="log" if log_y else "linear")
    fig.update_layout(height=380, legend={"orientation": "h", "yanchor": "bottom", "y": 1.12, "x": 0},
                      margin={"l": 10, "r": 10, "t": 70, "b": 10})
    return fig


def densities_figure(x: np.ndarray, p: np.ndarray, q: np.ndarray) -> go.Figure:
    """The two 1-D densities of the Divergences page, P (prior colour) and Q (encoded colour)."""
    fig = go.Figure()
    fig.add_scatter(x=x, y=p, mode="lines", fill="tozeroy", name="P (e.g. the prior p(z))",
                    line={"color": COLORS["prior"]})
    fig.add_scatter(x=x, y=q, mode="lines", fill="tozeroy", name="Q (e.g. the codes q(z))",
                    line={"color": COLORS["training"]})
    fig.update_layout(height=260, xaxis_title="z", yaxis_title="density", margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      legend={"orientation": "h", "y": 1.15, "x": 0})
    return fig


def divergence_figure(curve: pd.DataFrame, shift: float) -> go.Figure:
    """KL, JS and W1 against the shift of Q, a panel each, the current shift marked; infinite KL is left
    out of the plot and said in the panel."""
    titles = ("KL(P‖Q) (nats)", "Jensen-Shannon (nats)", "Wasserstein-1 (units of z)")
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.07)
    for col, name in enumerate(("KL", "JS", "W1"), start=1):
        values = curve[name].replace(np.inf, np.nan)
        fig.add_scatter(x=curve["shift"], y=values, mode="lines", line={"color": RUN_COLORS[col - 1], "width": 2},
                        showlegend=False, row=1, col=col, hovertemplate=f"shift %{{x:.2f}}<br>{name} %{{y:.3f}}"
                                                                          "<extra></extra>")
        fig.add_vline(x=shift, line={"dash": "dot", "color": "grey"}, row=1, col=col)
    if np.isinf(curve["KL"]).any():
        fig.add_annotation(text="KL = ∞ where Q has no mass under P<br>(gaps in the curve)", xref="x domain",
                           yref="y domain", x=0.5, y=0.95, showarrow=False, font={"size": 11})
    fig.add_hline(y=math.log(2), line={"dash": "dot", "color": "grey"}, row=1, col=2, annotation_text="ln 2",
                  annotation_position="bottom right")
    fig.update_xaxes(title_text="shift of Q")
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


# -- cards and reports -----------------------------------------------------------------------------
def model_card(ref: models.ModelRef, loaded: LoadedModel) -> None:
    """What a model is, what it was trained on, for how long, and how well it does (the card's measured
    metrics, when it has them)."""
    cfg, meta = loaded.config, loaded.meta
    card, report, history = meta.get("card", {}), meta.get("data_report", {}), loaded.history
    last_step = history["steps"][-1] if history["steps"] else {}
    last_epoch = history["epochs"][-1] if history["epochs"] else {}
    prior = ", ".join(f"{k}={v}" for k, v in cfg.prior.items() if k != "name")
    with st.container(border=True):
        st.markdown(f"**{ref.label}** · {cfg.model.upper()} on {cfg.representation.upper()} · "
                    f"latent_dim {cfg.latent_dim} · {cfg.prior['name']} prior ({prior})")
        cols = st.columns(4)
        cols[0].metric("training molecules", f"{report['kept']:,}" if "kept" in report else "n/a")
        steps = meta.get("state", {}).get("step", last_step.get("step", 0))  # history keeps every log_every-th
        cols[1].metric("steps (epochs done)", f"{steps:,} ({len(history['epochs'])})")
        cols[2].metric("training time", duration(card.get("wall_s", last_step.get("time_s", 0.0))))
        validity = last_epoch.get("validity")
        cols[3].metric("validity at last epoch", f"{validity:.0%}" if validity is not None else "no epoch yet",
                       help="from the run's own monitor: a few hundred prior samples at the end of each epoch")
        if card.get("summary"):
            st.markdown(card["summary"])
        made = [f"created {card['created']}"] if "created" in card else []
        made += [f"command: `{card['command']}`"] if "command" in card else []
        st.caption(" · ".join([f"Data: {card.get('data', report.get('source', 'n/a'))}", *made]))
        metrics = card.get("metrics") or card.get("evaluation", {}).get("metrics")
        if metrics:
            shown = {name: metrics[name] for name in CARD_METRICS if name in metrics}
            st.dataframe(pd.DataFrame([shown or metrics]), hide_index=True)
            st.caption(card.get("metrics_note") or card.get("evaluation", {}).get("command", ""))


def metrics_text(metrics: dict[str, float]) -> str:
    """``{"held_out_accuracy": 0.952, "reconstruction_bce": 0.1436}`` -> "held out accuracy 95.2%, reconstruction
    bce 0.144"."""
    parts = [f"{name.replace('_', ' ')} " + (f"{value:.1%}" if "accuracy" in name else f"{value:.3g}")
             for name, value in metrics.items()]
    return ", ".join(parts) or "no metrics"


def duration(seconds: float) -> str:
    """``42 s``, ``3.5 min`` or ``1.8 h``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


def load_report(report: dict) -> None:
    """Counts of a data load (read, kept, rejected by reason, with examples)."""
    rejected = {k: v for k, v in report["rejected"].items() if v}
    cols = st.columns(3)
    cols[0].metric("rows read", f"{report['rows_read']:,}")
    cols[1].metric("molecules kept", f"{report['kept']:,}")
    cols[2].metric("rows rejected", f"{sum(rejected.values()):,}")
    if rejected:
        st.dataframe(pd.DataFrame({"reason": list(rejected), "rows": list(rejected.values()),
                                   "examples": [", ".join(report["examples"].get(k, [])) for k in rejected]}),
                     hide_index=True)
