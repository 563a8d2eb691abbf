"""The Optimise page in a real headless Chromium on the shipped MOSES AAE: a small search runs in the background,
its progress and results appear (the proposals plot, the molecules found, the search on the latent map), and the
found molecules download as CSV. A screenshot goes to ``test-artifacts/screenshots/09_optimise.png``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboard.browser import ROOT, healthy, launch, open_tab, serve, settle

SHOTS = ROOT / "test-artifacts" / "screenshots"
START = "Clc1ccccc1-c1nc(-c2ccncc2)no1"  # a MOSES test molecule whose neighbourhood the shipped AAE decodes well

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on the shipped checkpoints, one torch thread; yields its URL and stops it afterwards."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield from serve(ROOT / "checkpoints", tmp_path_factory.mktemp("home"), SHOTS.parent / "streamlit_optimise.log")


def shot(tab, path: Path) -> None:
    """Screenshot of the whole page (the app scrolls inside its main block: the window is made that tall)."""
    height = tab.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    tab.set_viewport_size({"width": 1400, "height": min(max(height, 1000), 8000)})
    tab.wait_for_timeout(800)
    tab.screenshot(path=str(path))
    tab.set_viewport_size({"width": 1400, "height": 1000})


def test_a_small_search_shows_its_results(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        _, tab = open_tab(browser, f"{server}/optimise?opt_smiles={START}&opt_budget=96&opt_refine=50",
                          timeout_ms=300_000)  # the settings travel in the URL
        tab.get_by_role("heading", name="Optimise a lead").wait_for()
        assert tab.get_by_label("Start molecule (SMILES)", exact=True).input_value() == START
        tab.get_by_role("button", name="Optimise").click()
        tab.get_by_text("molecules decoded", exact=False).first.wait_for()
        assert healthy(server), "the server answers while the search runs in its worker thread"
        tab.get_by_text("molecule(s) keep every constraint", exact=False).last.wait_for()
        settle(tab)
        assert tab.get_by_text("finished · 96 of 96 molecules decoded").is_visible()
        assert tab.locator(".js-plotly-plot").count() == 2  # the proposals, the latent map
        assert tab.locator(".js-plotly-plot").first.get_by_text("Pareto front").count() == 1
        assert tab.locator(".js-plotly-plot").last.get_by_text("search track (batch means)").count() == 1
        assert tab.locator("[data-testid='stDataFrame']").count() == 1
        with tab.expect_download(timeout=30_000) as arrived:
            tab.get_by_role("button", name="Download CSV").click()
        lines = Path(arrived.value.path()).read_text().splitlines()
        assert len(lines) >= 2 and {"smiles", "similarity", "objective", "QED"} <= set(lines[0].split(","))
        shot(tab, SHOTS / "09_optimise.png")
        browser.close()
