"""The classroom preset in a real headless Chromium, on the shipped AAE: start it, watch the raw 2-D codes drawn as
it trains and the molecules it samples at the end, then score it beside the shipped AAE/VAE pair on Compare runs.
Screenshots go to ``test-artifacts/screenshots/teach_*.png``, timings to ``test-artifacts/teach_timings.json`` and the
server's log to ``test-artifacts/teach_streamlit.log`` (this checkout's own, so two suites running at once do not
write over each other's; about 3-4 minutes in all)."""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest

from dashboard.services import training
from tests.dashboard.browser import ROOT, launch, running_app, settle

SHIPPED = ROOT / "checkpoints"
ARTIFACTS = ROOT / "test-artifacts"
SHOTS = ARTIFACTS / "screenshots"
NEEDED = (training.WARM_START, *training.COMPARE_PAIR)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def shot(tab, name: str) -> None:
    """The whole page (the app scrolls inside its main block) to ``test-artifacts/screenshots/teach_<name>.png``."""
    height = tab.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    tab.set_viewport_size({"width": 1400, "height": min(max(height, 1000), 6000)})
    tab.wait_for_timeout(500)
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=SHOTS / f"teach_{name}.png")
    tab.set_viewport_size({"width": 1400, "height": 1000})


@pytest.fixture
def server(tmp_path):
    """The app on the shipped AAE (to start from) and the shipped AAE/VAE pair, one torch thread."""
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not on PATH (apt-get install chromium)")
    if not all((SHIPPED / name).is_file() for name in NEEDED):
        pytest.skip(f"needs the shipped {', '.join(NEEDED)}")
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in NEEDED:
        (folder / name).symlink_to(SHIPPED / name)
    home = tmp_path / "home"
    home.mkdir()
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_app(folder, home, ARTIFACTS / "teach_streamlit.log") as url:
        yield url


def test_the_classroom_preset_fills_a_2d_map_and_samples_valid_molecules(server):
    from playwright.sync_api import sync_playwright

    timings = {}
    with sync_playwright() as playwright:
        browser = launch(playwright)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.set_default_timeout(120_000)
        tab.goto(f"{server}/train")
        settle(tab)
        assert tab.get_by_role("radio", name=training.PRESET_LABELS["classroom"]).is_checked()
        shot(tab, "train_preset")
        started = time.monotonic()
        tab.get_by_role("button", name="Start training").click()
        tab.get_by_text("raw codes z (no projection)").wait_for(timeout=120_000)
        timings["first map (s)"] = round(time.monotonic() - started, 1)
        tab.wait_for_timeout(20_000)  # a few refreshes later
        shot(tab, "train_map")
        tab.get_by_text("What your model samples").wait_for(timeout=300_000)
        timings["run to samples (s)"] = round(time.monotonic() - started, 1)
        settle(tab)
        tab.locator("[data-testid='stImage']").first.wait_for()
        valid = tab.locator("[data-testid='stMetric']").filter(has_text="valid").first.inner_text()
        timings["valid"] = re.search(r"(\d+)%", valid).group(1)
        assert int(timings["valid"]) >= 50, valid  # mostly valid
        assert tab.get_by_text("raw codes z (no projection)").is_visible()
        shot(tab, "train_samples")

        tab.locator("[data-testid='stSidebarNav']").get_by_text("Compare runs", exact=True).click()
        settle(tab)
        chosen = tab.locator("[data-testid='stMultiSelect']").first.inner_text()
        assert "aae_small_moses" in chosen and "vae_small_moses" in chosen and "(this session)" in chosen
        tab.get_by_text("fraction of training (step / last step)").click()
        settle(tab)
        started = time.monotonic()
        tab.get_by_role("button", name="Compute metrics of the selected runs").click()
        tab.get_by_text("run(s) scored in").wait_for(timeout=600_000)
        timings["compute metrics, 3 runs, first time (s)"] = round(time.monotonic() - started, 1)
        settle(tab)
        shot(tab, "compare")
        assert tab.locator("[data-testid='stAlert']").filter(has_text="failed").count() == 0  # no run failed
        browser.close()
    (ARTIFACTS / "teach_timings.json").write_text(json.dumps(timings, indent=1))
