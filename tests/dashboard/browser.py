"""The app in a real headless Chromium: start ``aae-lab dashboard`` (``streamlit run dashboard/app.py``) on a free
loopback port and wait for a script run to finish. Shared by the browser tests and ``bench/bench_browser.py``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_app(checkpoints: Path, home: Path, log: Path, threads: int = 1, **env: str) -> Iterator[str]:
    """Serve the app on the models in ``checkpoints`` with ``threads`` torch threads, its own ``home`` as home
    and working directory (Streamlit's disk cache stays out of the user's, and the app's settings must come from
    dashboard/.streamlit/, not from the working directory) and ``env`` added to its environment; yield its URL,
    stop it afterwards.

    Raises
    ------
    RuntimeError
        If the server exits or is not healthy within 90 s (its output is in ``log``).
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "AAE_LAB_THREADS": str(threads),
           "AAE_LAB_CHECKPOINTS": str(checkpoints), "HOME": str(home), **env}
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "aae_core.cli", "dashboard", "--port", str(port), "--address", "127.0.0.1"],
            cwd=home, env=env,
            stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, process, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:  # a server that ignores SIGTERM is stuck: the test has failed already
                process.kill()
                process.wait()


def serve(checkpoints: Path, home: Path, log: Path, **env: str) -> Iterator[str]:
    """The body of a browser test's ``server`` fixture (``yield from serve(...)``): skip when chromium is not on
    PATH, else serve the app as :func:`running_app` does and fail the test, with the path of ``log``, when the
    server does not start."""
    import pytest  # here, not above: the benchmarks use this module without pytest

    if shutil.which("chromium") is None:
        pytest.skip("chromium is not on PATH (apt-get install chromium)")
    try:
        with running_app(checkpoints, home, log, **env) as url:
            yield url
    except RuntimeError as err:
        pytest.fail(str(err))


def open_tab(browser, url: str, timeout_ms: int = 120_000):
    """A tab in a new browser context (so a new Streamlit session) at ``url``, 1400 x 1000, waiting up to
    ``timeout_ms`` for anything, settled; returns (context, tab)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(timeout_ms)
    tab.goto(url)
    settle(tab)
    return context, tab


def healthy(url: str) -> bool:
    """Whether the server at ``url`` answers its health check within 10 s."""
    try:
        return urllib.request.urlopen(f"{url}/_stcore/health", timeout=10).read() == b"ok"
    except OSError:
        return False


def _wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while not healthy(url):
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"streamlit did not start; see {log}")
        time.sleep(0.5)


def launch(playwright):
    """Headless Chromium from PATH (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)


def settle(tab) -> None:
    """Wait until the script run is over (the app says "notRunning" twice in a row, in case a run triggers
    another) with no placeholder left, and check that nothing failed."""
    tab.wait_for_timeout(500)
    for _ in range(2):
        wait_idle(tab)
        tab.wait_for_timeout(300)
    assert tab.locator("[data-testid='stException']").count() == 0
    assert tab.get_by_text("unexpected problem").count() == 0


def wait_idle(tab) -> None:
    """Wait until no script run is in progress and no placeholder skeleton is left."""
    tab.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")
    tab.wait_for_selector("[data-testid='stSkeleton']", state="detached")
