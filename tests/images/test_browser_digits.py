"""The digit pages in a real headless Chromium, through the app's navigation (reuses the server, tab and
helpers of tests/dashboard/test_browser.py; only the checkpoint folder differs: one tiny digit model)."""

from __future__ import annotations

import pytest

from aae_core.images.training import train_images
from tests.dashboard import test_browser as browser
from tests.dashboard.browser import settle
from tests.dashboard.test_browser import go, shot
from tests.images.conftest import tiny_image_config, tiny_train_config

pytestmark = pytest.mark.browser
server, page = browser.server, browser.page  # the app server and its tab, started on this module's checkpoint_dir


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    """Stands in for ``checkpoints/``: one tiny semi-supervised digit model (label-conditioned decoder)."""
    folder = tmp_path_factory.mktemp("digit-checkpoints")
    cfg = tiny_image_config(model="semi-supervised", num_labels=20, holdout=20)
    train_images(cfg, tiny_train_config(epochs=2), folder / "digits_tiny.safetensors")
    return folder


def test_explore_draws_map_manifold_style_and_reconstructions(page):
    go(page, "Explore")
    page.locator(".js-plotly-plot").first.wait_for()
    assert page.get_by_text("semi-supervised model").first.is_visible()
    assert page.get_by_text("How well the codes of these").is_visible()
    for tab in ("Decoder manifold", "Style grid", "Reconstructions"):
        page.get_by_role("tab", name=tab).click()
        settle(page)
    assert page.locator("[data-testid='stImage']").count() == 3
    page.get_by_role("tab", name="Classes").click()
    settle(page)
    assert page.get_by_text("counted by true digit").is_visible()
    assert page.locator(".js-plotly-plot").nth(1).is_visible()  # the class table's heatmap
    shot(page, "digits_explore")


def test_training_runs_and_reports(page):
    go(page, "Training")
    page.get_by_label("Epochs", exact=True).fill("1")
    page.get_by_label("Hidden units", exact=True).fill("16")
    page.get_by_role("button", name="Train").click()
    page.get_by_text("The model is listed on the Digits Explore page").wait_for(timeout=180_000)
    settle(page)
    shot(page, "digits_training")


def test_training_clustering_with_deskew_and_neighbour_pairs(page):
    """The encoder and restart options reach the trainer from the browser; neighbour pairs without a consistency
    weight are refused with a message, not a traceback."""
    go(page, "Training")
    page.locator("[data-testid='stMain']").get_by_label("Model", exact=True).first.click()
    page.get_by_role("option").filter(has_text="clustering").first.click()
    settle(page)
    page.get_by_label("Epochs", exact=True).fill("1")
    page.get_by_label("Hidden units", exact=True).fill("16")
    page.get_by_text("Beyond the paper").click()
    page.get_by_label("Neighbour pairs (k)", exact=True).fill("5")
    page.get_by_role("button", name="Train").click()
    settle(page)
    assert "also set consistency > 0" in page.locator("[data-testid='stAlertContentError']").inner_text()
    page.get_by_label("Consistency weight", exact=True).fill("20")
    page.get_by_text("Deskew", exact=True).click()
    page.get_by_label("Epochs", exact=True).fill("2")
    page.get_by_label("Restarts", exact=True).fill("2")
    page.get_by_label("Restart epochs", exact=True).fill("1")
    page.get_by_role("button", name="Train").click()
    page.get_by_text("The model is listed on the Digits Explore page").wait_for(timeout=180_000)
    settle(page)
    assert "held out cluster accuracy" in page.locator("[data-testid='stAlertContentSuccess']").inner_text()
    assert page.get_by_text("(3 of 3 epochs done)").count() == 1  # two candidates' first epoch, then the second
    assert page.locator("[data-testid='stException']").count() == 0


def test_accuracy_baseline(page):
    go(page, "Accuracy")
    assert page.locator("[data-testid='stMetric']").count() == 1
    shot(page, "digits_accuracy")
