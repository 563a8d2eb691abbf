"""How fast the main interactions feel in a real browser: the app served by ``streamlit run`` on the shipped
models, driven by headless Chromium (from PATH), timed from the click to the result on screen.

    python bench/bench_browser.py [--threads 1] [--repeat 3] [--n 1000]

- Sample & draw: set a new seed, click **Sample**; "stats" is when the batch's validity/uniqueness/novelty
  and caption for that seed are on screen, "done" when the script run is over with the grid drawn, both timed
  in the page by a MutationObserver (Playwright's own waits poll, which adds up to a few hundred ms; its figure
  is printed too). The first click of a session also loads the training set for novelty, unless the app has
  preloaded it. The same seeds clicked again come from the app's cache: that is Streamlit's own round trip.
- Latent map: switch from 5,000 to 10,000 training molecules (PCA); "done" when the new map is drawn.
Prints the median, min and max of ``--repeat`` runs (new seeds each time, so nothing comes from a cache).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dashboard.browser import launch, running_app, settle, wait_idle  # noqa: E402


def report(label: str, times: list[float]) -> None:
    print(f"{label:<58} {statistics.median(times):6.2f} s   (min {min(times):.2f}, max {max(times):.2f}, "
          f"n={len(times)})", flush=True)


# Runs in the page just before the click: notes (performance.now()) when the stats caption for the seed appears
# and when the script run is over after that, so the figures do not include Playwright's polling intervals.
WATCH = """seed => {
  const target = `seed ${seed}.`, app = document.querySelector("[data-testid='stApp']");
  window.__watch = {start: performance.now(), stats: null, done: null};
  const observer = new MutationObserver(() => {
    const w = window.__watch;
    if (w.stats === null && document.body.textContent.includes(target)) w.stats = performance.now();
    if (w.stats !== null && app.getAttribute("data-test-script-state") === "notRunning") {
      w.done = performance.now();
      observer.disconnect();
    }
  });
  observer.observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def sample_once(tab, n: int, seed: int) -> tuple[float, float, float]:
    """Seconds from the click on Sample to the stats for ``seed`` and to the end of the run with the grid drawn,
    timed in the page, and to the stats as Playwright sees them (its polling adds up to a few hundred ms)."""
    tab.get_by_label("Molecules", exact=True).fill(str(n))
    tab.get_by_label("Seed", exact=True).fill(str(seed))
    button = tab.get_by_role("button", name="Sample")
    button.hover()
    start = time.perf_counter()
    tab.evaluate(WATCH, seed)
    button.click()
    tab.get_by_text(f"seed {seed}.").wait_for()
    seen = time.perf_counter() - start
    wait_idle(tab)
    tab.locator("[data-testid='stDataFrame']").first.wait_for()
    tab.wait_for_function("window.__watch.done !== null")
    watch = tab.evaluate("window.__watch")
    return (watch["stats"] - watch["start"]) / 1000, (watch["done"] - watch["start"]) / 1000, seen


def latent_map_once(tab, url: str) -> float:
    """Seconds from choosing 10,000 training molecules to the redrawn map (starting from 5,000)."""
    tab.goto(f"{url}/latent_map?map_points=5,000")
    settle(tab)
    tab.locator("[data-testid='stSelectbox']").filter(has_text="Training molecules").click()
    start = time.perf_counter()
    tab.get_by_role("option", name="10,000").click()
    tab.wait_for_timeout(100)
    wait_idle(tab)
    tab.locator(".js-plotly-plot").first.wait_for()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the app (AAE_LAB_THREADS)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n", type=int, default=1000, help="molecules per sample")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as home, running_app(args.checkpoints, Path(home), Path(home) / "log",
                                                             args.threads) as url, sync_playwright() as playwright:
        browser = launch(playwright)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(120_000)
        tab.goto(f"{url}/sample")
        settle(tab)
        first = sample_once(tab, args.n, 1)
        print(f"app threads {args.threads}; Sample & draw, {args.n:,} molecules (timed in the page)")
        report("first click of the session: stats", [first[0]])
        report("first click of the session: done (grid drawn)", [first[1]])
        runs = [sample_once(tab, args.n, 2 + i) for i in range(args.repeat)]
        report("later clicks, new seed: stats", [r[0] for r in runs])
        report("later clicks, new seed: done (grid drawn)", [r[1] for r in runs])
        report("later clicks, new seed: stats, as Playwright sees them", [r[2] for r in runs])
        again = [sample_once(tab, args.n, 2 + i) for i in range(args.repeat)]
        report("the same seeds again (cached: the app's own overhead): done", [r[1] for r in again])
        latent_map_once(tab, url)  # encodes 10,000 training molecules once per model (cached after)
        report("latent map: 5,000 -> 10,000 points (PCA), codes cached",
               [latent_map_once(tab, url) for _ in range(args.repeat)])
        browser.close()


if __name__ == "__main__":
    main()
