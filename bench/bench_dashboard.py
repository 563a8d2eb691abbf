"""How fast the dashboard's main interactions are on the shipped model (PyTorch single-threaded by default).

    python bench/bench_dashboard.py [--model checkpoints/aae_moses.safetensors] [--repeat 3] [--nonlinear]
                                    [--workers N]

Prints one line per step (median of ``--repeat`` runs, min and max): sampling 1,000 molecules (three ways in the
same run: one thread; ``--workers`` intra-op threads; one intra-op thread and ``--workers`` decoding threads, which
is what the app does), describing
them and computing the properties and drawings of the grid page on screen (all other properties wait until a
property filter or an export needs them), and, for the Latent map, reading or encoding 10,000 training codes, the
prior-fit numbers beside the map and projecting the codes with PCA (plus, with ``--nonlinear``, t-SNE and UMAP of
the 2,000 codes and 1,000 prior samples the map embeds jointly, and UMAP's one-off compilation). Every step runs
uncached, as on a first click; the dashboard caches the results afterwards.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from aae_core import latent
from aae_core.molecules.generation import MoleculeGenerator
from aae_core.registry import load_model
from dashboard import components
from dashboard.services import data, drawings, latent_map, properties, sampling

ROOT = Path(__file__).resolve().parents[1]


def timed(label: str, step: Callable[[int], object], repeat: int) -> object:
    """Run ``step(i)`` ``repeat`` times; print the median, min and max wall time; return the last result."""
    times, result = [], None
    for i in range(repeat):
        start = time.perf_counter()
        result = step(i)
        times.append(time.perf_counter() - start)
    print(f"{label:<62} {statistics.median(times):7.3f} s   (min {min(times):.3f}, max {max(times):.3f})", flush=True)
    return result


def uncached_properties(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`services.properties.with_properties` as on a first visit (the per-molecule caches emptied first)."""
    properties.molecule_properties.cache_clear()
    return properties.with_properties(frame)


def grid(page: pd.DataFrame) -> pd.DataFrame:
    """What the Sample page computes for the rows on screen: their properties and drawings, uncached."""
    drawings.drawing.cache_clear()
    return drawings.with_drawings(uncached_properties(page))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "checkpoints" / "aae_moses.safetensors"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--nonlinear", action="store_true", help="also time t-SNE and UMAP (slow)")
    parser.add_argument("--workers", type=int, default=sampling.DECODE_WORKERS,
                        help="decoding threads, as the app (default: one per core, %(default)s here)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the app (AAE_LAB_THREADS)
    logging.getLogger("streamlit").setLevel(logging.ERROR)  # no "missing ScriptRunContext" noise outside a server

    loaded = load_model(args.model)
    generator = MoleculeGenerator(loaded)
    known = data.training_set()
    print(f"model {loaded.name}: latent_dim {loaded.config.latent_dim}, decoding workers {args.workers}")

    print("-- Sample & draw: 1,000 molecules")
    timed("sample 1,000: one thread", lambda i: generator.sample(1000, seed=i), args.repeat)
    torch.set_num_threads(args.workers)
    timed(f"sample 1,000: {args.workers} intra-op threads", lambda i: generator.sample(1000, seed=i), args.repeat)
    torch.set_num_threads(1)
    smiles, valid = timed(f"sample 1,000: {args.workers} decoding threads x 1 intra-op thread (the app)",
                          lambda i: generator.sample_marked(1000, seed=i, workers=args.workers), args.repeat)
    timed("describe them, parsing each again (before: validity, uniqueness, novelty)",
          lambda i: sampling.describe(smiles, known), args.repeat)
    frame = timed("describe them with the validity the sampler marked (the app)",
                  lambda i: sampling.describe(smiles, known, valid), args.repeat)
    page = frame[frame["valid"]].head(drawings.GRID_PAGE)
    timed(f"properties and drawings of one grid page ({len(page)} molecules)", lambda i: grid(page), args.repeat)
    def everything(i: int) -> pd.DataFrame:
        smiles, valid = generator.sample_marked(1000, seed=10 + i, workers=args.workers)
        return grid(sampling.describe(smiles, known, valid).query("valid").head(drawings.GRID_PAGE))

    timed("all of it: sample 1,000, describe, the grid page", everything, args.repeat)
    timed(f"properties of all {int(frame['valid'].sum())} valid (once a property filter is set)",
          lambda i: uncached_properties(frame), args.repeat)
    print(f"   validity {frame['valid'].mean():.1%} of 1,000")

    print("-- Latent map: 10,000 training molecules")
    path = str(loaded.path)
    shipped = latent_map.shipped_codes.__wrapped__(path, 0.0) is not None
    timed(f"training codes of 10,000, {'shipped (assets/latent_map)' if shipped else 'none shipped for this model'}",
          lambda i: latent_map.training_codes.__wrapped__(path, 0.0, 10_000, loaded), args.repeat)
    train, codes = timed("encode 10,000 (a model without shipped codes; cached after)",
                         lambda i: latent_map._encode_readable(loaded, latent_map.map_sample().iloc[:10_000]), 1)
    prior = generator.sample_prior(latent_map.PRIOR_POINTS, seed=0).numpy()
    reference = generator.sample_prior(latent_map.PRIOR_POINTS, seed=1).numpy()
    fit = timed(f"prior fit: two-sample AUC + MMD² of {latent_map.FIT_POINTS:,} codes vs {len(prior):,} prior samples",
                lambda i: latent_map.prior_fit.__wrapped__(codes[: latent_map.FIT_POINTS], prior, reference),
                args.repeat)
    print(f"   AUC {fit['auc']:.3f} (logistic {fit['auc_logistic']:.3f}, kNN {fit['auc_knn']:.3f}), MMD² "
          f"{fit['mmd2']:.4f} (prior vs prior {fit['mmd2_floor']:.4f})")

    def pca_map(i: int) -> int:
        view = latent.project(codes, "pca")
        extra = view.transform(prior)
        overlay = latent.prior_overlay(loaded.model.prior, view, extra)
        points = pd.DataFrame({"x": view.coords[:, 0], "y": view.coords[:, 1], "kind": "training",
                               "smiles": train["smiles"].to_numpy()})
        empty = pd.DataFrame(columns=["smiles", "distance", "x", "y"])
        figure = components.latent_map_figure(latent_map.LatentMap(points, view, overlay, empty), "dataset")
        return len(figure.to_json())

    size = timed(f"project {len(codes):,} with PCA + prior overlay + Scattergl figure", pca_map, args.repeat)
    print(f"   figure JSON {size / 2**20:.1f} MiB")
    if args.nonlinear:
        subset = codes[: latent_map.NONLINEAR_MAX_POINTS]
        timed(f"t-SNE of {len(subset):,} + {len(prior):,} prior samples, jointly",
              lambda i: latent.project(subset, "tsne", extra=prior), 1)
        timed("UMAP: import and compile (latent.warm_up_umap, once per process)", lambda i: latent.warm_up_umap(), 1)
        timed(f"UMAP of {len(subset):,} + {len(prior):,} prior samples, jointly",
              lambda i: latent.project(subset, "umap", extra=prior), args.repeat)

if __name__ == "__main__":
    main()
