"""Real headless Chromium for the page tests: Debian's browser driven by Playwright.

Playwright never downloads a browser here: it launches /usr/bin/chromium
(installed by ``make test-setup``).  One browser serves the whole session;
each test gets fresh contexts, closed afterwards.  The sync API runs in the
test's own thread, outside the Twisted reactor; the daemon is a subprocess.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

from playwright.sync_api import Browser, BrowserContext, Page, Playwright  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
ARGUMENTS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    # Only loopback is ever reached: never through a proxy from the environment.
    "--no-proxy-server",
]
# Quicker than the defaults (1 s to 10 s, retries up to 30 s), so that a
# test waits for seconds, not tens of seconds; the algorithm is unchanged.
FAST = {"minSyncInterval": 100, "maxSyncInterval": 500, "syncInterval": 100,
        "maxRetryInterval": 500}
WAIT_MS = 15_000


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run `make test-setup`, which installs it")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGUMENTS)


def launch_profile(browser: Browser, directory: Path) -> BrowserContext:
    """Another Chromium like *browser*, on a profile kept in *directory*:
    closing it and launching it again is a browser restart."""
    return browser.browser_type.launch_persistent_context(
        str(directory), executable_path=str(CHROMIUM), args=ARGUMENTS, headless=True)


class Tab:
    """One page of the editor site, with its script errors and requests collected."""

    def __init__(self, context: BrowserContext, url: str) -> None:
        self.errors: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.page: Page = context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda request: self.requests.append((request.method, request.url)))
        self.page.goto(url)
        self.page.wait_for_function(
            "() => window.mobwrite && mobwrite.shared.length > 0 && mobwrite.syncUsername")
        self.page.evaluate("settings => Object.assign(mobwrite, settings)", FAST)

    def value(self, selector: str) -> Any:
        return self.page.locator(selector).input_value()

    def wait(self, expression: str, argument: Any = None) -> Any:
        """Block until the JavaScript *expression* (a function) is truthy in the page."""
        return self.page.wait_for_function(expression, arg=argument).json_value()

    def wait_for_value(self, selector: str, value: str) -> None:
        self.wait("([selector, value]) => document.querySelector(selector).value === value",
                  [selector, value])

    def wait_for_state(self, state: str) -> None:
        self.wait("state => mobwrite.state === state && "
                  "document.getElementById('state').dataset.state === state", state)

    def type_at(self, selector: str, position: int, text: str) -> None:
        """Put the cursor at *position* of the field and type *text* with the keyboard."""
        self.page.evaluate(
            """([selector, position]) => {
                const field = document.querySelector(selector);
                field.focus();
                field.setSelectionRange(position, position);
            }""", [selector, position])
        self.page.keyboard.type(text)

    def type_at_end(self, selector: str, text: str) -> None:
        """Put the cursor at the end of the field as it is now and type *text*:
        unlike a position counted beforehand, this holds while another
        page's typing is arriving."""
        self.page.evaluate(
            """selector => {
                const field = document.querySelector(selector);
                field.focus();
                field.setSelectionRange(field.value.length, field.value.length);
            }""", selector)
        self.page.keyboard.type(text)

    def selection(self, selector: str) -> list[int]:
        return self.page.evaluate(
            "selector => { const f = document.querySelector(selector);"
            " return [f.selectionStart, f.selectionEnd]; }", selector)
