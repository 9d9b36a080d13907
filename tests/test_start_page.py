"""The start page tells people when documents expire, and only when they do (issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import WAIT_MS, launch
from playwright.sync_api import sync_playwright

from benchmarks.daemon import Daemon

KEPT = "A new name creates a new document."


def help_text(daemon: Daemon) -> str:
    """The start page's help under the name field, once its script has run."""
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(f"http://127.0.0.1:{daemon.ports['editor']}/")
            # The page's last request is for config.js; wait until it has been used.
            page.wait_for_load_state("networkidle")
            return " ".join(page.locator("#name-help").inner_text().split())
        finally:
            browser.close()


@pytest.mark.parametrize(("options", "said"), [
    ((), KEPT),
    (("--timeout-text", "7 days"),
     KEPT + " A document nobody opens or edits for 7 days is deleted."),
])
def test_start_page_mentions_expiry_when_it_is_on(tmp_path: Path, options: tuple[str, ...],
                                                   said: str) -> None:
    """Documents kept until deleted: nothing said; with TIMEOUT_TEXT set, the page says how long."""
    daemon = Daemon(tmp_path, "--durability", "memory", *options).start()
    try:
        assert help_text(daemon).endswith(said)
    finally:
        daemon.stop()
