"""Hostile input against a real server in headless Chromium: a 20,000-atom SMILES and a 1 MB one-line upload
leave the server answering and other sessions working; a closed tab's training run stops and its temporary
folder goes; the server's settings come from dashboard/.streamlit/ whatever the working directory."""

from __future__ import annotations

import time

import pytest

from tests.dashboard.browser import healthy, launch, open_tab, serve, settle

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def temp(tmp_path_factory):
    """The server's temporary directory, where the sessions' folders go."""
    return tmp_path_factory.mktemp("server-tmp")


@pytest.fixture(scope="module")
def server(checkpoint_dir, tmp_path_factory, temp):
    """The app on the tiny models, started from a folder outside the repository; sessions gone for a second
    lose their runs and folders."""
    home = tmp_path_factory.mktemp("home")
    yield from serve(checkpoint_dir, home, home / "streamlit.log", TMPDIR=str(temp), AAE_LAB_SESSION_GRACE_S="1")


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


def assert_serving(browser, server: str) -> None:
    """The server answers its health check and a fresh session draws the Divergences page."""
    assert healthy(server)
    context, tab = open_tab(browser, f"{server}/divergences")
    tab.locator(".js-plotly-plot").nth(1).wait_for()
    context.close()


def test_a_20000_atom_smiles_is_refused_and_the_server_keeps_serving(browser, server):
    context, tab = open_tab(browser, f"{server}/interpolate")
    field = tab.get_by_label("Start (SMILES)", exact=True)
    field.fill("C" * 20_000)
    field.press("Enter")
    settle(tab)
    tab.get_by_text("the start SMILES has 20,000 characters, over the limit of 1,000").wait_for()
    assert_serving(browser, server)
    context.close()


def test_a_one_line_megabyte_upload_is_refused_and_the_server_keeps_serving(browser, server):
    context, tab = open_tab(browser, f"{server}/train")
    tab.get_by_text("Upload a molecule file").click()
    settle(tab)
    tab.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(
        files=[{"name": "one-line.smi", "mimeType": "text/plain", "buffer": b"C" * 2**20}])
    settle(tab)
    tab.get_by_text("line 1 has 1,048,576 characters, over the limit of 10,000").wait_for()
    assert_serving(browser, server)
    context.close()


def test_settings_come_from_the_dashboard_folder(browser, server):
    """No Deploy button or menu, no usage statistics sent anywhere, and the upload limit of the config file
    (which the Digits uploader shows: it sets none of its own)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    requested = []
    tab.on("request", lambda request: requested.append(request.url))
    tab.goto(f"{server}/digits_training")
    settle(tab)
    assert tab.get_by_text("64MB per file").count() == 1  # server.maxUploadSize (the default is 200)
    assert tab.locator("[data-testid='stAppDeployButton']").count() == 0  # toolbarMode "minimal"
    assert tab.locator("[data-testid='stMainMenu']").count() == 0
    icons = "https://fonts.gstatic.com/s/i/"  # the browser tab's icon (page_icon=":material/hub:")
    assert [url for url in requested if not url.startswith((server, "data:", "blob:", icons))] == []
    context.close()


def test_closing_a_tab_stops_its_training_and_removes_its_folder(browser, server, temp):
    context, tab = open_tab(browser, f"{server}/train")
    tab.get_by_label("Epochs", exact=True).fill("100")
    tab.get_by_label("Epochs", exact=True).press("Tab")
    settle(tab)
    before = set(temp.glob("aae-lab-session-*"))
    tab.get_by_role("button", name="Start training").click()
    tab.get_by_text("training · step").wait_for()
    (folder,) = set(temp.glob("aae-lab-session-*")) - before
    context.close()
    deadline = time.monotonic() + 120  # seen gone for a second, asked to stop, stopped after its step, removed
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not folder.exists()
    assert healthy(server)
