"""Does a molecule model's latent space hold molecules? The measures and targets of issue 20, per checkpoint.

For each checkpoint (default: every shipped molecule model):

- **prior samples**: ``-n`` (10,000) draws from the prior at temperature 1, plain sampling, decoded once:
  validity, unique@10k, novelty (vs the shipped MOSES train cut), FCD/Test (``aae_core.molecules.metrics.evaluate``);
- **reconstruction**: greedy decoding of the codes of the first ``--n-recon`` (1,000) MOSES test molecules the
  model can encode: exact match (canonical SMILES equal) and mean Tanimoto (Morgan r=2, 2048 bits);
- **codes vs prior**: cross-validated ROC AUC of logistic regression and 15-NN separating ``--n-codes`` (2,000)
  encoded test molecules from as many prior draws (``two_sample_auc``), and the RBF MMD^2;
- **neighbours**: mean Tanimoto of each of the ``--n-recon`` test molecules to its 5 nearest latent neighbours
  among ``--n-pool`` (10,000) encoded training molecules, over that of 5 random ones (``neighbour_ratio``).

Usage::

    .venv/bin/python bench/bench_latent_space.py checkpoints/aae_moses.safetensors --threads 1
    .venv/bin/python bench/bench_latent_space.py --annotate          # all shipped models, results into their cards
    .venv/bin/python bench/bench_latent_space.py RUN.safetensors -n 2000 --n-codes 1000 --n-pool 2000   # quick look

With ``--annotate`` each card gets ``latent_space`` (the figures, the command and the date); the frontier
figure on the Compare page and in ``checkpoints/README.md`` is drawn from those. ``--figure PNG`` (without
checkpoints to measure: ``--figure checkpoints/frontier.png --no-measure``) renders that figure from the shipped
cards in Debian's headless Chromium (Playwright), as ``checkpoints/frontier.png`` is made.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aae_core.checkpoints import load_checkpoint, save_checkpoint  # noqa: E402
from aae_core.latent import median_distance, rbf_mmd2  # noqa: E402
from aae_core.molecules.data import load_molecules  # noqa: E402
from aae_core.molecules.generation import MoleculeGenerator  # noqa: E402
from aae_core.molecules.latent_quality import (  # noqa: E402
    frontier_figure,
    frontier_point,
    held_out_molecules,
    neighbour_similarity,
    posterior_draws,
    reconstruction,
    two_sample_auc,
)
from aae_core.molecules.metrics import evaluate  # noqa: E402
from aae_core.registry import load_model  # noqa: E402

#: Issue 20's targets: (measure, comparison, bound).
TARGETS = (("valid", ">=", 0.90), ("unique@10000", ">=", 0.99), ("Novelty", ">=", 0.80), ("FCD/Test", "<=", 1.2),
           ("exact_match", ">=", 0.50), ("reconstruction_tanimoto", ">=", 0.80), ("prior_auc", "<=", 0.65),
           ("neighbour_ratio", ">=", 2.0))
SHIPPED_MOLECULE_MODELS = sorted(p for p in (ROOT / "checkpoints").glob("*.safetensors")
                                 if not p.name.startswith("digits_"))


def prior_sample_metrics(generator: MoleculeGenerator, n: int, seed: int) -> dict[str, float]:
    samples = generator.sample(n, temperature=1.0, seed=seed)
    metrics = evaluate(samples, k=(n,))
    return {"valid": metrics["valid"], f"unique@{n}": metrics[f"unique@{n}"], "Novelty": metrics["Novelty"],
            "FCD/Test": metrics["FCD/Test"]}


def code_metrics(generator: MoleculeGenerator, n_recon: int, n_codes: int, n_pool: int, seed: int) -> dict:
    loaded = generator.loaded
    test = held_out_molecules(loaded, "moses-test", n_codes)
    codes = generator.encode(test)
    draws = posterior_draws(loaded, test, codes, seed)
    prior = loaded.model.prior.sample(len(codes), torch.Generator().manual_seed(seed)).float()
    pool = load_molecules("moses-train", tokenizer=loaded.tokenizer, max_len=loaded.tokenizer.max_len,
                          max_rows=n_pool).smiles
    return {**reconstruction(generator, test[:n_recon], codes[:n_recon]), **two_sample_auc(draws, prior, seed),
            "mmd2": rbf_mmd2(draws, prior, median_distance(prior)),
            **neighbour_similarity(test[:n_recon], codes[:n_recon], pool, generator.encode(pool), seed=seed)}


def measure(path: Path, args: argparse.Namespace) -> dict:
    started = time.monotonic()
    generator = MoleculeGenerator(load_model(path))
    figures = {**prior_sample_metrics(generator, args.n, args.seed),
               **code_metrics(generator, args.n_recon, args.n_codes, args.n_pool, args.seed)}
    figures = {k: round(float(v), 4) for k, v in figures.items()}
    met = {name: (figures[name] >= bound if op == ">=" else figures[name] <= bound)
           for name, op, bound in TARGETS if name in figures}
    return {"figures": figures, "targets_met": met, "wall_s": round(time.monotonic() - started, 1)}


def annotate(path: Path, result: dict, command: str) -> None:
    """Store ``result`` as the card's ``latent_space`` (weights and states written back unchanged, atomically)."""
    ckpt = load_checkpoint(path)
    ckpt.meta.setdefault("card", {})["latent_space"] = {
        **result, "command": command, "measured": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    save_checkpoint(path, ckpt.model_state, ckpt.meta, ckpt.optimizer_states, ckpt.rng_state)


def render_frontier(out: Path) -> None:
    """Write the frontier figure of every shipped molecule model with a measured card to ``out`` (PNG), drawn by
    Plotly in Debian's Chromium."""
    import shutil
    import tempfile

    from playwright.sync_api import sync_playwright

    points = {p.stem: point for p in SHIPPED_MOLECULE_MODELS
              if (point := frontier_point(load_checkpoint(p).meta)) is not None}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        page_file = Path(tmp) / "frontier.html"
        frontier_figure(points).update_layout(width=900).write_html(page_file, include_plotlyjs=True)
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update"])
        page = browser.new_page(viewport={"width": 920, "height": 500})
        page.goto(page_file.as_uri())
        page.wait_for_selector(".main-svg")
        page.locator(".plotly").first.screenshot(path=str(out))
        browser.close()
    print(f"wrote {out} ({len(points)} models)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", type=Path, default=SHIPPED_MOLECULE_MODELS)
    parser.add_argument("-n", type=int, default=10_000, help="prior samples (default 10,000)")
    parser.add_argument("--n-recon", type=int, default=1000, help="test molecules reconstructed (default 1,000)")
    parser.add_argument("--n-codes", type=int, default=2000, help="encoded test molecules vs prior draws")
    parser.add_argument("--n-pool", type=int, default=10_000, help="encoded training molecules for neighbours")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--annotate", action="store_true", help="write the results into each checkpoint's card")
    parser.add_argument("--figure", type=Path, help="then render the shipped models' frontier figure to this PNG")
    parser.add_argument("--no-measure", action="store_true", help="measure nothing (with --figure: only draw)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    command = "python bench/bench_latent_space.py " + shlex.join(sys.argv[1:])
    print(f"# {command}; CPU bf16 fast: {torch.cpu._is_avx512_bf16_supported()}", flush=True)
    for path in [] if args.no_measure else args.checkpoints:
        result = measure(path, args)
        print(json.dumps({"model": path.name, **result}), flush=True)
        if args.annotate:
            annotate(path, result, command)
    if args.figure:
        render_frontier(args.figure)


if __name__ == "__main__":
    main()
