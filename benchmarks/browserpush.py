"""Propagation between two real browsers on the editor page (issue 15).

Run as ``python -m benchmarks.browserpush``; it starts a fresh daemon on
loopback and two headless Chromium processes (Debian's ``/usr/bin/chromium``
through Playwright, which never downloads a browser), each with the editor
page on one document, and prints one JSON object.

The typist appends a marked word after a random pause, as a person types
it (an ``input`` event, so the page syncs on its own typing at once); the
holder checks its text every 2 ms for the mark.  Latency runs from the
typist's keystroke to the holder's text holding it, both read from the
browsers' clocks (``performance.timeOrigin + performance.now()``, one
machine).  ``--polling`` turns the pages' socket off, for the figure the
issue started from.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from benchmarks.daemon import Daemon
from mobwrite.tools.loadmodel import percentile

CHROMIUM = "/usr/bin/chromium"
ARGUMENTS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             "--no-proxy-server"]
READY = "() => window.mobwrite && mobwrite.shared.length > 0 && mobwrite.state === 'synced'"
# The holder notes when each mark first shows in its text.
WATCH = """() => {
  window.seen = {};
  const field = document.querySelector('#text');
  setInterval(() => {
    for (const mark of field.value.match(/m[0-9]+m/g) ?? []) {
      window.seen[mark] ??= performance.timeOrigin + performance.now();
    }
  }, 2);
}"""
TYPE = """mark => {
  const field = document.querySelector('#text');
  const at = performance.timeOrigin + performance.now();
  field.value += mark + ' ';
  field.dispatchEvent(new Event('input', { bubbles: true }));
  return at;
}"""


def open_editor(browser: Browser, url: str, polling: bool) -> Page:
    page = browser.new_context().new_page()
    page.goto(url)
    page.wait_for_function("() => window.mobwrite && mobwrite.shared.length > 0")
    if polling:
        # The next sync closes a socket already open.
        page.evaluate("() => { mobwrite.websocket = false; return mobwrite.syncNow(); }")
    page.wait_for_function("transport => mobwrite.transport === transport",
                           arg="polling" if polling else "live")
    page.wait_for_function(READY)
    return page


def measure(edits: int, polling: bool, pauses: tuple[float, float]) -> dict[str, object]:
    """Type *edits* marks in one browser and time each one's arrival in the other."""
    with tempfile.TemporaryDirectory() as workdir, sync_playwright() as playwright:
        daemon = Daemon(Path(workdir)).start()
        try:
            url = f"http://127.0.0.1:{daemon.ports['editor']}/editor.html?doc=bench"
            browsers = [playwright.chromium.launch(executable_path=CHROMIUM, args=ARGUMENTS)
                        for _ in range(2)]
            typist, holder = (open_editor(browser, url, polling) for browser in browsers)
            holder.evaluate(WATCH)
            latencies = []
            for number in range(edits):
                typist.wait_for_timeout(random.uniform(*pauses) * 1000)
                mark = f"m{number}m"
                typed = typist.evaluate(TYPE, mark)
                seen = holder.wait_for_function(
                    "mark => window.seen[mark]", arg=mark, timeout=30_000).json_value()
                latencies.append((seen - typed) / 1000)
            for browser in browsers:
                browser.close()
        finally:
            daemon.stop()
    return {
        "transport": "polling" if polling else "websocket",
        "edits": edits,
        "pause_s": list(pauses),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--polling", action="store_true", help="the pages poll (no socket)")
    parser.add_argument("--min-pause", type=float, default=0.2)
    parser.add_argument("--max-pause", type=float, default=1.0)
    options = parser.parse_args()
    if not Path(CHROMIUM).exists():
        parser.exit(1, f"{CHROMIUM} is missing: run `make test-setup`, which installs it\n")
    print(json.dumps(measure(options.edits, options.polling, (options.min_pause, options.max_pause))))


if __name__ == "__main__":
    main()
