"""The Latent map, Interpolate and Home pages in a real headless Chromium on the shipped models: the prior samples
are drawn over the codes (counted in the screenshot's pixels), the prior-fit numbers and their sentence sit beside
the map, UMAP shows where the codes and the prior part, the model's reading of the user's molecules is drawn next to
them with a plain warning, and the digit models' table is not cut off. Screenshots go to
``test-artifacts/screenshots/maps_*.png``."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest

from tests.dashboard.browser import ROOT, launch, running_app, settle

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = str(ROOT / "test-artifacts" / "screenshots" / "maps_{}.png")
PRIOR_ORANGE = np.array([245, 133, 24])  # components.COLORS["prior"]


@pytest.fixture(scope="module")
def tab(tmp_path_factory):
    """One tab of the app served on the shipped checkpoints, at the Home page."""
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not on PATH (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    home = tmp_path_factory.mktemp("home")
    with running_app(ROOT / "checkpoints", home, home / "streamlit.log") as url, sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(240_000)
        page.goto(url)
        settle(page)
        page.app_url = url
        yield page
        browser.close()


def shot(page, name: str) -> None:
    """The whole page (the app scrolls inside its main block, so the window is made as tall as that block)."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(max(height, 1000), 5000)})
    page.wait_for_timeout(500)
    page.screenshot(path=SHOTS.format(name))
    page.set_viewport_size({"width": 1400, "height": 1000})


def orange_share(page) -> float:
    """Share of the map's pixels drawn in the prior samples' orange (not the paler shading of the density)."""
    from PIL import Image

    image = Image.open(io.BytesIO(page.locator(".js-plotly-plot").first.screenshot())).convert("RGB")
    pixels = np.asarray(image, dtype=int)
    return float((np.abs(pixels - PRIOR_ORANGE).sum(-1) < 60).mean())


def trace_names(page) -> list[str]:
    return page.evaluate("[...document.querySelector('.js-plotly-plot').data].map(t => t.name)")


def test_1_digit_models_table_is_whole(tab):
    tab.get_by_role("heading", name="Digit models").scroll_into_view_if_needed()
    table = tab.locator("[data-testid='stTable']").last
    assert "held-out accuracy" in table.inner_text()
    width, visible = table.evaluate("box => [box.scrollWidth, box.clientWidth]")
    assert width <= visible + 1, "the digit models' table needs a horizontal scroll: columns are cut off"
    shot(tab, "home")


def test_2_pca_map_draws_the_prior_over_the_codes_with_its_numbers(tab):
    tab.goto(f"{tab.app_url}/latent_map")
    settle(tab)
    tab.locator(".js-plotly-plot").first.wait_for()
    without = orange_share(tab)
    tab.get_by_text("Add 1,000 prior samples").click()
    settle(tab)
    names = trace_names(tab)
    assert names.index("prior samples z ~ p(z)") > names.index("training molecules, encoded")
    assert orange_share(tab) > max(5 * without, 5e-4), "ticking the prior samples must change what the map shows"
    assert tab.get_by_text("Do the codes fill the prior?").is_visible()
    assert tab.get_by_text("two-sample ROC AUC").is_visible() and tab.get_by_text("MMD² to the prior").is_visible()
    assert tab.get_by_text("0.5 would mean").is_visible()
    shot(tab, "latent_pca")


def test_3_umap_is_fitted_with_the_prior_samples(tab):
    tab.get_by_text("UMAP (non-linear)", exact=True).click()
    settle(tab)
    tab.locator(".js-plotly-plot").first.wait_for()
    assert tab.get_by_text("fitted on the codes and the prior samples together").is_visible()
    assert "prior samples z ~ p(z)" in trace_names(tab)
    shot(tab, "latent_umap")


def test_4_my_molecule_is_drawn_next_to_the_models_reading(tab):
    tab.get_by_text("PCA (linear)", exact=True).click()
    settle(tab)
    field = tab.get_by_label("Encode my molecule (SMILES)", exact=True)
    field.fill("CC(=O)Nc1ccc(O)cc1")
    field.press("Enter")
    settle(tab)
    tab.get_by_text("the model's reading · Tanimoto").first.wait_for()
    assert tab.get_by_text("The model decodes your molecule").is_visible()
    shot(tab, "latent_yours")


def test_5_interpolate_shows_each_endpoint_read_back(tab):
    tab.locator("[data-testid='stSidebarNav']").get_by_text("Interpolate", exact=True).click()
    settle(tab)
    start = tab.get_by_label("Start (SMILES)", exact=True)
    start.fill("CCO")
    start.press("Enter")
    settle(tab)
    end = tab.get_by_label("End (SMILES)", exact=True)
    end.fill("c1ccccc1O")
    end.press("Enter")
    settle(tab)
    assert tab.get_by_text("How the model reads your two molecules").is_visible()
    assert tab.get_by_text("the model's reading · Tanimoto").count() == 2
    assert tab.get_by_text("The model decodes the start").is_visible()
    assert tab.get_by_text("nearby molecule").count() == 0
    shot(tab, "interpolate")
