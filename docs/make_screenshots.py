"""Screenshots for the README: `python docs/make_screenshots.py http://localhost:8501` against a running app.

Writes docs/screenshot.png (the whole Explore page) and docs/screenshot-attention.png (the attention view).
Needs playwright and a Chromium; `--chromium` points at the executable (Debian: /usr/bin/chromium).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="http://localhost:8501", help="may carry ?example=…&threshold=…")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2000)
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(args.url, timeout=60_000)
        page.locator(".skim-answer").first.wait_for(timeout=120_000)
        page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)
        page.wait_for_timeout(1500)  # let Plotly finish its first draw
        page.screenshot(path=str(DOCS / "screenshot.png"))
        # Streamlit scrolls an inner container, so a full-page shot stops at the viewport: scroll, then clip.
        heading = page.get_by_role("heading", name="Attention")
        heading.evaluate("el => el.scrollIntoView({block: 'start'})")
        # The first chart after the heading, whatever number of charts precede it on the page.
        chart_locator = heading.locator("xpath=following::div[contains(@class, 'js-plotly-plot')][1]")
        chart_locator.wait_for(timeout=60_000)  # drawn once scrolled into view
        page.wait_for_timeout(1000)
        top = heading.bounding_box()["y"] - 10
        chart = chart_locator.bounding_box()
        height = min(chart["y"] + chart["height"] + 70 - top, args.height - top)
        clip = {"x": 0, "y": top, "width": args.width, "height": height}
        page.screenshot(path=str(DOCS / "screenshot-attention.png"), clip=clip)
        browser.close()


if __name__ == "__main__":
    main()
