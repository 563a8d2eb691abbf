"""End to end in a real headless Chromium: start ``aae-lab dashboard`` on a free local port, drive
every page through one browser session, and save a screenshot of each under ``test-artifacts/screenshots/``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.dashboard.browser import ROOT, launch, running_app, settle

SHOTS = ROOT / "test-artifacts" / "screenshots"
KNOWN = "CC1Oc2ccc(Cl)cc2N(CC(O)CO)C1=O"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(checkpoint_dir, tmp_path_factory):
    """The app on 127.0.0.1 on the tiny models, one torch thread; yields its URL and stops it afterwards."""
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not on PATH (apt-get install chromium)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with running_app(checkpoint_dir, tmp_path_factory.mktemp("home"), SHOTS.parent / "streamlit.log") as url:
            yield url
    except RuntimeError as err:
        pytest.fail(str(err))


@pytest.fixture(scope="module")
def page(server):
    """One browser tab (one Streamlit session) for the whole module, at the Home page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(120_000)
        tab.goto(server)
        settle(tab)
        yield tab
        browser.close()


def go(tab, title: str) -> None:
    tab.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    settle(tab)
    tab.get_by_role("heading", level=1).first.wait_for()


def shot(tab, name: str) -> None:
    """Screenshot of the whole page: the app scrolls inside its main block, so the window is made as tall
    as that block for the shot."""
    height = tab.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    tab.set_viewport_size({"width": 1400, "height": min(max(height, 1000), 6000)})
    tab.wait_for_timeout(500)
    tab.screenshot(path=str(SHOTS / f"{name}.png"))
    tab.set_viewport_size({"width": 1400, "height": 1000})


def test_1_home(page):
    page.get_by_role("heading", name="aae-lab: adversarial autoencoders for molecules and digits").wait_for()
    settle(page)
    assert page.get_by_text("tiny (shipped)").first.is_visible()
    assert page.get_by_text("A 40-minute tour for a classroom").is_visible()
    shot(page, "01_home")


def test_2_latent_map_places_my_molecule(page, server):
    page.goto(f"{server}/latent_map?map_points=2,000")  # settings travel in the URL (a new session)
    settle(page)
    page.locator(".js-plotly-plot").first.wait_for()
    assert "2,000" in page.locator("[data-testid='stSelectbox']").filter(has_text="Training molecules").inner_html()
    field = page.get_by_label("Encode my molecule (SMILES)", exact=True)
    field.fill(KNOWN)
    field.press("Enter")
    settle(page)
    page.locator(".js-plotly-plot").get_by_text("your molecule").wait_for()
    assert page.get_by_text("Your molecule, the model's reading of it, and its nearest training molecules").is_visible()
    shot(page, "02_latent_map")
    drag = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()  # box-select the middle of the map
    page.mouse.move(drag["x"] + drag["width"] * 0.2, drag["y"] + drag["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(drag["x"] + drag["width"] * 0.8, drag["y"] + drag["height"] * 0.8, steps=10)
    page.mouse.up()
    page.get_by_text("selected molecule(s)").wait_for()
    settle(page)
    shot(page, "02b_latent_map_selection")
    field.fill("C1CC(")
    field.press("Enter")
    settle(page)
    assert page.get_by_text("Cannot place this molecule").is_visible()
    assert page.locator(".js-plotly-plot").count() >= 1


def test_3_sample_draws_a_grid_and_fills_the_basket(page):
    go(page, "Sample & draw")
    page.get_by_label("Molecules", exact=True).fill("300")
    page.get_by_role("button", name="Sample").click()
    settle(page)
    assert page.get_by_text("Validity").first.is_visible()
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.wait_for()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 48)  # the selection box of the first row (row height 96)
    settle(page)
    page.get_by_role("button", name="Add 1 selected to the basket").click()
    settle(page)
    assert page.get_by_text("Candidate basket: 1 molecule(s)").is_visible()
    shot(page, "03_sample")


def test_4_interpolate_draws_the_path(page):
    go(page, "Interpolate")
    page.locator("[data-testid='stImage']").nth(11).wait_for()  # each endpoint and its reading, then the path
    assert page.locator("[data-testid='stImage']").count() == 12
    shot(page, "04_interpolate")


def download(tab, label: str) -> Path:
    """Click the download button ``label`` and return the file that arrives (made on the click: deferred data)."""
    with tab.expect_download(timeout=30_000) as arrived:
        tab.get_by_role("button", name=label).click()
    return Path(arrived.value.path())


def test_5_basket_keeps_the_pick(page):
    go(page, "Basket")
    assert page.locator("[data-testid='stDataFrame']").count() == 1
    lines = download(page, "Download CSV").read_text().splitlines()
    assert len(lines) == 2 and {"smiles", "QED", "logP", "SA", "MW", "lipinski"} <= set(lines[0].split(","))
    for _ in range(3):  # an SDF right after a CSV once spun for ever (see components.download_buttons)
        assert download(page, "Download SDF").read_text().rstrip().endswith("$$$$")
        assert download(page, "Download CSV").read_text().splitlines() == lines
    shot(page, "05_basket")


def test_6_train_a_tiny_model(page):
    go(page, "Train")
    page.get_by_label("Use the first N valid molecules", exact=True).fill("300")
    page.get_by_label("Epochs", exact=True).fill("1")
    page.get_by_label("Epochs", exact=True).press("Tab")
    settle(page)
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("is in the model list").wait_for(timeout=180_000)
    settle(page)
    shot(page, "06_train")
    assert "(this session)" in page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").inner_html()


def test_7_compare_runs(page):
    go(page, "Compare runs")
    page.locator(".js-plotly-plot").first.wait_for()
    assert page.get_by_text("MOSES AAE (paper)").count() + page.locator("[data-testid='stDataFrame']").count() >= 1
    shot(page, "07_compare")


def test_8_divergences(page):
    go(page, "Divergences")
    assert page.locator(".js-plotly-plot").count() == 2
    shot(page, "08_divergences")
