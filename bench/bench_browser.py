"""How fast the main interactions feel in a real browser: the app served by ``aae-lab dashboard`` on the shipped
models, driven by headless Chromium (from PATH), timed from the click to the result on screen.

    python bench/bench_browser.py [--threads 1] [--repeat 3] [--n 1000]

- Sample & draw: set a new seed, click **Sample**; "stats" is when the batch's validity/uniqueness/novelty
  and caption for that seed are on screen, "done" when the script run is over with the grid drawn, both timed
  in the page by a MutationObserver (Playwright's own waits poll, which adds up to a few hundred ms; its figure
  is printed too). The first click of a session also loads the training set for novelty, unless the app has
  preloaded it. The same seeds clicked again come from the app's cache: that is Streamlit's own round trip.
- Latent map: switch from 5,000 to 10,000 training molecules (PCA); "done" when the new map is drawn.
Prints the median, min and max of ``--repeat`` runs (new seeds each time, so nothing comes from a cache).

    python bench/bench_browser.py --cold [--repeat 1] [--pause 0]

times instead what a new user meets first on a freshly started server (its own empty home, so no disk cache):
the first paint of Home (from opening the URL to its title, and until the script run is over with the whole page
drawn), then, as fast as a user could click, the Latent map with its defaults (PCA, 10,000 molecules), colouring
it by QED (``--pause`` seconds after the first map: the time a user looks at it, while the app compiles UMAP in
the background), switching it to UMAP (the numba compilation included) and to t-SNE, and last the default map reloaded
with everything cached on the server (what is left: sending and drawing 10,000 points). Each repeat starts a new
server. Beside each wall time it prints the CPU seconds the server process spent on that step (background threads
included), which says what the app costs when other work shares the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dashboard.browser import launch, running_app, settle, wait_idle  # noqa: E402

COMPARE_MORE = ("aae_moses", "ae_small_moses", "vae_property_small_moses")  # added on the Compare page


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


# Runs in the page just before a click: notes when the script run it starts is over (the app's script state goes
# to "running" and back to "notRunning"), so that a run that has not started yet is not taken for a finished one.
RUN_WATCH = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  window.__run = {start: performance.now(), running: false, done: null};
  const observer = new MutationObserver(() => {
    const state = app.getAttribute("data-test-script-state"), w = window.__run;
    if (state === "running") w.running = true;
    if (w.running && state === "notRunning") { w.done = performance.now(); observer.disconnect(); }
  });
  observer.observe(app, {attributes: true, attributeFilter: ["data-test-script-state"]});
}"""


def timed_step(tab, act) -> float:
    """Seconds from ``act()`` (a click that starts a script run) until that run is over with a map on screen (as
    Playwright sees it: up to 0.1 s of polling)."""
    tab.evaluate(RUN_WATCH)
    start = time.perf_counter()
    act()
    tab.wait_for_function("window.__run.done !== null", polling=100)
    wait_idle(tab)
    tab.locator(".js-plotly-plot").first.wait_for()
    return time.perf_counter() - start


def reload_step(tab, url: str) -> float:
    """Seconds from opening ``url`` in the tab until its script run is over with a map on screen."""
    start = time.perf_counter()
    tab.goto(url)
    tab.wait_for_timeout(300)
    wait_idle(tab)
    tab.locator(".js-plotly-plot").first.wait_for()
    return time.perf_counter() - start


def choose(tab, box: str, option: str) -> None:
    tab.locator("[data-testid='stSelectbox']").filter(has_text=box).click()
    tab.get_by_role("option", name=option, exact=True).click()


def server_cpu(url: str) -> float:
    """CPU seconds (user + system, all threads) the ``aae-lab dashboard`` process serving ``url`` has used so far
    (Linux /proc): the app's own work, which a busy machine does not inflate the way it inflates wall time."""
    port = f"dashboard\0--port\0{url.rsplit(':', 1)[1]}\0"
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and port in (proc / "cmdline").read_text():
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            continue
    return float("nan")


def cold_once(playwright, checkpoints: Path, threads: int, pause: float = 0.0) -> dict[str, float]:
    """One new server and one new tab: seconds to the first Home paint, the first latent map, colour by QED,
    UMAP and t-SNE, in that order, with ``pause`` seconds between the first map and the next click; and, under
    ``"<step> [server CPU s]"``, the CPU seconds the server spent from the start of each step to its end."""
    times = {}
    with tempfile.TemporaryDirectory() as home, running_app(checkpoints, Path(home), Path(home) / "log",
                                                             threads) as url:
        cpu = [server_cpu(url)]

        def note(label: str, seconds: float) -> None:
            cpu.append(server_cpu(url))
            times[label] = seconds
            times[f"{label} [server CPU s]"] = cpu[-1] - cpu[-2]

        browser = launch(playwright)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(300_000)
        start = time.perf_counter()
        tab.goto(url)
        tab.get_by_role("heading", level=1).first.wait_for()
        times["first Home paint: title on screen"] = time.perf_counter() - start
        tab.get_by_text("A 40-minute tour for a classroom").wait_for()
        wait_idle(tab)
        note("first Home paint: whole page (model cards, tables, tour)", time.perf_counter() - start)
        nav = tab.locator("[data-testid='stSidebarNav']")
        note("first latent map (PCA, 10,000 molecules)",
             timed_step(tab, lambda: nav.get_by_text("Latent map", exact=True).click()))
        tab.wait_for_timeout(pause * 1000)  # a user looking at the map (the app compiles UMAP meanwhile)
        cpu[-1] = server_cpu(url)
        note("first colour by QED", timed_step(tab, lambda: choose(tab, "Colour by", "QED (0-1, drug-likeness)")))
        note("first UMAP (2,000 molecules)",
             timed_step(tab, lambda: tab.get_by_text("UMAP (non-linear)", exact=True).click()))
        note("first t-SNE (2,000 molecules)",
             timed_step(tab, lambda: tab.get_by_text("t-SNE (non-linear)", exact=True).click()))
        note("the map reloaded, all cached (transfer and drawing)", reload_step(tab, f"{url}/latent_map"))
        browser.close()
    return times


def add_run(tab, name: str) -> None:
    """Add the run ``name`` to the Compare page's runs (the multiselect's first option containing it)."""
    box = tab.locator("[data-testid='stMultiSelect'] input").first
    box.click()
    box.fill(name)
    tab.get_by_role("option").filter(has_text=name).first.click()
    tab.keyboard.press("Escape")
    wait_idle(tab)


def compute_metrics(tab, runs: int) -> float:
    """Seconds from the click on Compute metrics until the page reports ``runs`` run(s) scored."""
    start = time.perf_counter()
    tab.get_by_role("button", name="Compute metrics of the selected runs").click()
    tab.get_by_text(f"{runs} run(s) scored in").wait_for()
    return time.perf_counter() - start


def compare_once(playwright, checkpoints: Path, threads: int) -> dict[str, float]:
    """One new server: seconds to Compute metrics of the Compare page's two preselected runs (the first time:
    the reference statistics and the worker processes included), then of three more runs added to them (the
    two already scored are kept by the server)."""
    times = {}
    with tempfile.TemporaryDirectory() as home, running_app(checkpoints, Path(home), Path(home) / "log",
                                                             threads) as url:
        browser = launch(playwright)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(600_000)
        tab.goto(f"{url}/compare")
        settle(tab)
        times["Compute metrics: the 2 preselected runs, first time"] = compute_metrics(tab, 2)
        for name in COMPARE_MORE:
            add_run(tab, name)
        times[f"Compute metrics: {len(COMPARE_MORE)} more runs after the first"] = compute_metrics(tab, 5)
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the app (AAE_LAB_THREADS)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n", type=int, default=1000, help="molecules per sample")
    parser.add_argument("--cold", action="store_true", help="time the first visits on a new server instead")
    parser.add_argument("--compare", action="store_true",
                        help="time the Compare page's Compute metrics on a new server instead")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="with --cold: seconds a user looks at the first map before the next click")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    if args.cold or args.compare:
        with sync_playwright() as playwright:
            runs = [cold_once(playwright, args.checkpoints, args.threads, args.pause) if args.cold
                    else compare_once(playwright, args.checkpoints, args.threads) for _ in range(args.repeat)]
        print(f"app threads {args.threads}; a new server per run, each step as soon as the last is drawn" +
              (f" (after the first map: {args.pause:g} s)" if args.cold else ""))
        for label in runs[0]:
            report(label, [run[label] for run in runs])
        return

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
