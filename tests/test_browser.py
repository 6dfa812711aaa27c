"""The real thing: `streamlit run` on a free local port, opened in headless Chromium (tiny model, bounded waits)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.examples import load_examples
from docs.make_screenshots import CHROMIUM_ARGS  # one list of flags for the test and the README screenshots
from scripts.load_test import free_port, start_server, stop_server, wait_healthy

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)")


@pytest.fixture
def server(tiny_model_dir, tmp_path):
    port = free_port()
    proc = start_server(port, str(tiny_model_dir), tmp_path / "streamlit.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, time.monotonic() + 60)
        yield url
    finally:  # always stop the server, even when the test failed
        stop_server(proc)


def test_app_shows_the_answer_in_a_browser(server, tiny_reader, tmp_path):
    from playwright.sync_api import sync_playwright

    first = load_examples()[0]
    expected = tiny_reader(first.question, first.passage).answer.text
    shot = tmp_path / "app.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(server, timeout=60_000)
            answer = page.locator(".skim-answer").first
            answer.wait_for(timeout=90_000)
            assert answer.inner_text().strip() == " ".join(expected.split())
            page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
            assert "Skim map" in page.inner_text("body")
            assert page.locator("[data-testid='stException']").count() == 0
            # The card is drawn twice in one run (before and after the full model's comparison): once on screen.
            page.get_by_text("Compared with the full model").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1_000)
            assert page.get_by_text("Timings are for this machine").count() == 1
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
