"""How well a trained model's latent space does its job, on held-out molecules.

- **Aggregate posterior vs prior.** Sampling decodes prior draws, so the aggregate posterior
  q(z) = E_x q(z|x) (Makhzani et al. 2015, Sec. 2) of real molecules should fill the prior: with one
  draw z ~ q(z|x) per held-out molecule (the code itself for deterministic encoders, mean plus scaled
  noise for a VAE) we compare the mean and covariance of the draws with those of prior samples, and
  measure the maximum mean discrepancy (Gretton et al. 2012, "A kernel two-sample test", JMLR 13:723)
  with a Gaussian RBF kernel.
- **Reconstruction** of held-out molecules after greedy decoding of their codes (``encode``: the
  posterior means for a VAE): the fraction decoded back to the same molecule, the per-token accuracy and
  the mean Tanimoto similarity of each molecule to its reconstruction.
- **Classifier two-sample test** (Lopez-Paz & Oquab 2017, "Revisiting classifier two-sample tests", ICLR):
  the cross-validated ROC AUC of classifiers (logistic regression and k-nearest neighbours) told to separate
  posterior draws from prior samples; 0.5 means they cannot, so the codes fill the prior.
- **Neighbours mean something**: the mean Tanimoto similarity of each held-out molecule to its k nearest
  latent neighbours among encoded training molecules, against that of k random training molecules.
- **Property prediction** (models with a property head, Gomez-Bombarelli et al. 2018): R^2 of the
  head's predictions from the codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from aae_core.exceptions import DataError
from aae_core.latent import median_distance, rbf_mmd2
from aae_core.molecules import chem
from aae_core.molecules.data import load_molecules
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.molecules.metrics.similarity import morgan_bits
from aae_core.registry import LoadedModel

MIN_TWO_SAMPLE = 50  # rows per side below which the classifier two-sample test is not run


def moment_gaps(posterior: torch.Tensor, prior: torch.Tensor) -> dict[str, float]:
    """How far the first two moments of ``posterior`` draws (n, d) are from those of ``prior`` samples
    (m, d).

    Returns ``mean_gap`` (Euclidean norm of the difference of means; for two samples of N(0, I) it is
    about sqrt(d (1/n + 1/m)) from sampling noise alone), ``cov_gap`` (Frobenius norm of the difference of
    covariances relative to the prior's) and ``posterior_variance`` (mean per-dimension
    variance of the draws; the prior's is beside it as ``prior_variance``).
    """
    posterior, prior = posterior.double(), prior.double()
    cov_posterior, cov_prior = torch.atleast_2d(torch.cov(posterior.T)), torch.atleast_2d(torch.cov(prior.T))
    return {
        "mean_gap": float((posterior.mean(0) - prior.mean(0)).norm()),
        "cov_gap": float((cov_posterior - cov_prior).norm() / cov_prior.norm()),
        "posterior_variance": float(cov_posterior.diagonal().mean()),
        "prior_variance": float(cov_prior.diagonal().mean()),
    }


def token_accuracy(decoded: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of target tokens that the decoded sequence has at the same position.

    Parameters
    ----------
    decoded : (batch, steps) long, greedy output without ``<bos>`` (0 after ``<eos>``).
    targets : (batch, seq_len) long, the molecules' ids without ``<bos>``, ``<eos>`` included, 0-padded.
    """
    width = max(decoded.shape[1], targets.shape[1])
    decoded = torch.nn.functional.pad(decoded, (0, width - decoded.shape[1]))
    targets = torch.nn.functional.pad(targets, (0, width - targets.shape[1]))
    mask = targets != 0
    return float(((decoded == targets) & mask).sum() / mask.sum())


def fingerprints(smiles: Sequence[str | None]) -> np.ndarray:
    """Morgan fingerprints (radius 2, 2048 bits; Rogers & Hahn 2010) of ``smiles``, (n, 2048) uint8; an all-zero
    row where a SMILES does not parse (its Tanimoto similarity to anything is then 0)."""
    mols = [chem.mol_from_smiles(s) for s in smiles]
    bits = np.zeros((len(mols), 2048), dtype=np.uint8)
    valid = [i for i, mol in enumerate(mols) if mol is not None]
    if valid:
        bits[valid] = morgan_bits([mols[i] for i in valid], radius=2, n_bits=2048)
    return bits


def tanimoto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Tanimoto similarity |a & b| / |a | b| of 0/1 fingerprints ``a`` and ``b`` of the same shape (..., bits)
    along the last axis, shape (...) float64; 0 where both are empty."""
    a, b = a.astype(bool), b.astype(bool)
    union = (a | b).sum(-1)
    return np.where(union > 0, (a & b).sum(-1) / np.maximum(union, 1), 0.0)


@torch.no_grad()
def reconstruction(generator: MoleculeGenerator, smiles: Sequence[str], codes: torch.Tensor) -> dict[str, float]:
    """Greedy reconstruction of ``smiles`` (canonical) from their ``codes`` (n, latent_dim).

    Returns ``exact_match`` (fraction decoded to the same canonical SMILES), ``token_accuracy``
    (see :func:`token_accuracy`) and ``reconstruction_tanimoto`` (mean :func:`tanimoto` of each molecule's
    and its reconstruction's :func:`fingerprints`; an invalid reconstruction counts 0).
    """
    tokenizer = generator.tokenizer
    decoded = generator.model.decoder.generate(codes.to(generator.device), tokenizer.max_len, tokenizer.bos_id,
                                               tokenizer.eos_id, greedy=True).cpu()
    targets, _ = tokenizer.encode(smiles)
    rebuilt = chem.canonicalize_many(tokenizer.decode(decoded))
    same = [r == t for r, t in zip(rebuilt, smiles, strict=True)]
    return {"exact_match": float(np.mean(same)), "token_accuracy": token_accuracy(decoded, targets[:, 1:]),
            "reconstruction_tanimoto": float(tanimoto(fingerprints(smiles), fingerprints(rebuilt)).mean())}


def two_sample_auc(posterior: torch.Tensor, prior: torch.Tensor, seed: int = 0, folds: int = 5) -> dict[str, float]:
    """Classifier two-sample test (Lopez-Paz & Oquab 2017): cross-validated ROC AUC of classifiers separating
    ``posterior`` draws (n, d) from ``prior`` samples (m, d).

    Returns ``prior_auc_logistic`` (logistic regression: finds a shift or scaling of the codes),
    ``prior_auc_knn`` (15-nearest-neighbour vote on standardised codes: finds holes and islands) and
    ``prior_auc``, the larger of the two. 0.5: indistinguishable; 1.0: fully separated. All three are NaN with
    fewer than :data:`MIN_TWO_SAMPLE` rows on either side (too few to test).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if min(len(posterior), len(prior)) < MIN_TWO_SAMPLE:
        return dict.fromkeys(("prior_auc_logistic", "prior_auc_knn", "prior_auc"), float("nan"))
    x = np.concatenate([posterior.double().numpy(), prior.double().numpy()])
    y = np.r_[np.zeros(len(posterior)), np.ones(len(prior))]
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    classifiers = {"logistic": LogisticRegression(max_iter=1000), "knn": KNeighborsClassifier(15)}
    scores = {f"prior_auc_{name}": float(cross_val_score(make_pipeline(StandardScaler(), model), x, y, cv=split,
                                                         scoring="roc_auc").mean())
              for name, model in classifiers.items()}
    return {**scores, "prior_auc": max(scores.values())}


def neighbour_similarity(smiles: Sequence[str], codes: torch.Tensor, pool_smiles: Sequence[str],
                         pool_codes: torch.Tensor, k: int = 5, seed: int = 0) -> dict[str, float]:
    """Whether latent neighbours are chemical neighbours.

    For each molecule of ``smiles`` with code ``codes`` (n, d): the mean Tanimoto similarity (Morgan radius 2,
    2048 bits) to its ``k`` nearest codes (Euclidean) among ``pool_codes`` (m, d) of ``pool_smiles``
    (``neighbour_tanimoto``), to ``k`` pool molecules drawn at random (``random_tanimoto``), and their ratio
    ``neighbour_ratio`` (1: the latent space's neighbourhoods carry no chemistry). A pool molecule identical
    to the query is not counted as its neighbour.

    Raises
    ------
    DataError
        If the pool has fewer than ``k + 1`` molecules.
    """
    from sklearn.neighbors import NearestNeighbors

    if len(pool_smiles) < k + 1:
        raise DataError(f"the neighbour pool needs at least {k + 1} molecules, got {len(pool_smiles)}")
    query_bits, pool_bits = fingerprints(smiles), fingerprints(pool_smiles)
    index = NearestNeighbors(n_neighbors=k + 1).fit(pool_codes.double().numpy())
    _, nearest = index.kneighbors(codes.double().numpy())
    position = {s: i for i, s in enumerate(pool_smiles)}
    nearest = np.stack([[j for j in row if j != position.get(s)][:k] for row, s in zip(nearest, smiles, strict=True)])
    random = np.random.default_rng(seed).integers(0, len(pool_smiles), size=nearest.shape)
    near = tanimoto(query_bits[:, None, :], pool_bits[nearest]).mean()
    chance = tanimoto(query_bits[:, None, :], pool_bits[random]).mean()
    return {"neighbour_tanimoto": float(near), "random_tanimoto": float(chance),
            "neighbour_ratio": float(near / chance) if chance > 0 else float("inf")}


@torch.no_grad()
def property_r2(loaded: LoadedModel, smiles: Sequence[str], codes: torch.Tensor) -> dict[str, float]:
    """``r2_<property>`` (coefficient of determination, 1 - SS_res / SS_tot) of the property head's
    predictions from ``codes``; empty for a model without a property head."""
    from aae_core.molecules.pipeline import property_values

    head = getattr(loaded.model, "property_head", None)
    if head is None:
        return {}
    truth = property_values(list(smiles), loaded.config.properties).double()
    predicted = head(codes.to(next(head.parameters()).device)).cpu().double()
    r2 = 1 - ((truth - predicted) ** 2).sum(0) / ((truth - truth.mean(0)) ** 2).sum(0)
    return {f"r2_{name}": float(value) for name, value in zip(loaded.config.properties, r2, strict=True)}


def held_out_molecules(loaded: LoadedModel, source: str = "moses-test", n: int = 1000) -> list[str]:
    """Up to ``n`` molecules of ``source`` (shipped name or file) that the model's tokenizer can encode,
    from the first ``n`` rows.

    Raises
    ------
    DataError
        If none of them can be encoded (e.g. a file from another chemical space).
    """
    tokenizer = loaded.tokenizer
    return load_molecules(source, tokenizer=tokenizer, max_len=tokenizer.max_len, max_rows=n).smiles


@torch.no_grad()
def posterior_draws(loaded: LoadedModel, smiles: Sequence[str], codes: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One draw z ~ q(z|x) per molecule, (n, latent_dim) float32: ``codes`` for a deterministic encoder;
    ``mu + exp(logvar / 2) * eps`` for a model with a Gaussian ``posterior`` (the VAE)."""
    model = loaded.model
    if not hasattr(model, "posterior"):
        return codes
    tokens, lengths = loaded.tokenizer.encode(smiles)
    mu, logvar = model.posterior({"tokens": tokens.to(next(model.parameters()).device), "lengths": lengths})
    noise = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed))
    return (mu.cpu() + torch.exp(0.5 * logvar.cpu()) * noise).float()


@dataclass
class LatentQuality:
    """Latent-quality numbers of one model (``metrics``) and the samples they came from: ``posterior``
    draws (n, latent_dim) for held-out molecules and as many ``prior`` samples, float32."""

    name: str
    metrics: dict[str, float]
    posterior: np.ndarray
    prior: np.ndarray


def latent_quality(loaded: LoadedModel, smiles: Sequence[str], seed: int = 0,
                   neighbour_pool: Sequence[str] | None = None) -> LatentQuality:
    """All latent-quality metrics of ``loaded`` on held-out ``smiles`` (at least two).

    ``metrics``: ``n``, ``mmd2`` between :func:`posterior_draws` and prior samples (RBF kernel whose
    bandwidth is the median pairwise distance of the prior samples, so every model with the same prior
    is measured with the same kernel), ``bandwidth``, the :func:`moment_gaps`, :func:`two_sample_auc`,
    :func:`reconstruction`, with ``neighbour_pool`` (e.g. 10,000 training molecules the model can encode)
    :func:`neighbour_similarity` and, with a property head, :func:`property_r2`.

    Raises
    ------
    DataError
        With fewer than two molecules, or one that does not parse.
    """
    if len(smiles) < 2:
        raise DataError(f"latent quality needs at least 2 held-out molecules, got {len(smiles)}")
    generator = MoleculeGenerator(loaded, device=str(next(loaded.model.parameters()).device))
    codes = generator.encode(smiles)  # validates: DataError for an unparsable SMILES
    smiles = chem.canonicalize_many(smiles)
    posterior = posterior_draws(loaded, smiles, codes, seed)
    prior = loaded.model.prior.sample(len(codes), torch.Generator().manual_seed(seed)).float()
    bandwidth = median_distance(prior)
    metrics = {"n": float(len(codes)), "mmd2": rbf_mmd2(posterior, prior, bandwidth), "bandwidth": bandwidth,
               **moment_gaps(posterior, prior), **two_sample_auc(posterior, prior, seed),
               **reconstruction(generator, smiles, codes), **property_r2(loaded, smiles, codes)}
    if neighbour_pool is not None:
        pool = chem.canonicalize_many(neighbour_pool)
        metrics |= neighbour_similarity(smiles, codes, pool, generator.encode(pool), seed=seed)
    return LatentQuality(loaded.name, metrics, posterior.numpy(), prior.numpy())


def latent_figure(quality: LatentQuality) -> go.Figure:
    """Three panels: per-dimension means of posterior draws and prior samples; the eigenvalues of both
    covariance matrices, largest first (a collapsed or stretched direction stands out); and both sets
    on the two principal axes of the posterior draws."""
    posterior, prior = quality.posterior.astype(np.float64), quality.prior.astype(np.float64)
    fig = make_subplots(rows=1, cols=3, subplot_titles=("mean per dimension", "covariance eigenvalues",
                                                        "first two principal axes"))
    _, _, axes = np.linalg.svd(posterior - posterior.mean(0), full_matrices=False)
    for label, z, colour in (("aggregate posterior", posterior, "#1f77b4"), ("prior", prior, "#7f7f7f")):
        style = {"name": label, "legendgroup": label, "marker_color": colour}
        eigen = np.sort(np.linalg.eigvalsh(np.atleast_2d(np.cov(z.T))))[::-1]
        xy = (z - posterior.mean(0)) @ axes[:2].T
        fig.add_trace(go.Scatter(y=z.mean(0), mode="markers", **style), row=1, col=1)
        fig.add_trace(go.Scatter(y=eigen, mode="lines+markers", showlegend=False, **style), row=1, col=2)
        fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers", opacity=0.4, marker_size=3,
                                 showlegend=False, **style), row=1, col=3)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_layout(title=f"{quality.name}: aggregate posterior vs prior "
                            f"(MMD^2 {quality.metrics['mmd2']:.3f})", height=380)
    return fig


#: Published (prior validity, exact reconstruction) pairs, for scale: other data (ZINC) and compute. The MOSES AAE
#: reports no reconstruction figure, so it is drawn as a line at its validity.
ANCHORS = {"JT-VAE (Jin et al. 2018)": (1.0, 0.767), "SD-VAE (Dai et al. 2018)": (0.435, 0.762),
           "CVAE (Gómez-Bombarelli et al. 2018)": (0.007, 0.446)}
MOSES_AAE_VALIDITY = 0.937
TARGET = (0.90, 0.50)  # issue 20: prior validity >= 0.90 with exact reconstruction >= 0.50


def frontier_point(meta: dict) -> tuple[float, float] | None:
    """(prior validity, exact reconstruction) from a checkpoint's ``meta``, ``None`` where the model was not
    measured. The card's figures, in order of preference: ``latent_space`` (``bench/bench_latent_space.py
    --annotate``: 10,000 samples, 1,000 test molecules), ``metrics`` (``valid`` and ``reconstruction accuracy``
    of the shipped cards) and ``evaluation`` (``aae-lab compare --annotate``: ``valid`` and ``exact_match``)."""
    card = meta.get("card", {})
    for figures, exact in ((card.get("latent_space", {}).get("figures", {}), "exact_match"),
                           (card.get("metrics", {}), "reconstruction accuracy"),
                           (card.get("evaluation", {}).get("metrics", {}), "exact_match")):
        if figures.get("valid") is not None and figures.get(exact) is not None:
            return figures["valid"], figures[exact]
    return None


def frontier_figure(points: dict[str, tuple[float, float]]) -> go.Figure:
    """Prior validity (x) against exact reconstruction (y) of each model in ``points`` (name -> (valid, exact)),
    with the published :data:`ANCHORS`, the MOSES AAE's validity and the :data:`TARGET` region: a model that
    samples valid molecules *and* encodes faithfully sits top right."""
    fig = go.Figure()
    fig.add_shape(type="rect", x0=TARGET[0], x1=1.02, y0=TARGET[1], y1=1.02, fillcolor="#2ca02c", opacity=0.12,
                  line_width=0, layer="below")
    fig.add_annotation(x=1.0, y=1.0, text="target", showarrow=False, xanchor="right", yanchor="top")
    fig.add_vline(x=MOSES_AAE_VALIDITY, line_dash="dot", line_color="#7f7f7f",
                  annotation_text="MOSES AAE validity (GPU, ~1 week)", annotation_position="bottom left")
    for group, data, style in (("published (ZINC)", ANCHORS, {"symbol": "diamond", "color": "#7f7f7f"}),
                               ("aae-lab models", points, {"symbol": "circle", "color": "#1f77b4"})):
        fig.add_trace(go.Scatter(x=[v for v, _ in data.values()], y=[r for _, r in data.values()], name=group,
                                 mode="markers+text", text=list(data), textposition=_label_positions(data),
                                 marker={"size": 11, **style}))
    fig.update_layout(title="Sample validity vs faithful encoding", height=480,
                      xaxis={"title": "validity of prior samples", "range": [-0.05, 1.08]},
                      yaxis={"title": "exact reconstruction of test molecules", "range": [-0.1, 1.05]})
    return fig


def _label_positions(data: dict[str, tuple[float, float]]) -> list[str]:
    """Text positions of the points' labels: above and below in turn along x (neighbours do not overlap), to
    the right near the left edge and to the left near the right edge (labels stay inside the plot)."""
    order = {name: rank for rank, name in enumerate(sorted(data, key=lambda name: data[name][0]))}
    return [f"{'top' if order[name] % 2 == 0 else 'bottom'} "
            f"{'right' if x < 0.15 else 'left' if x > 0.85 else 'center'}" for name, (x, _) in data.items()]
