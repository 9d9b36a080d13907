"""The two-browser propagation benchmark still runs: two edits between real Chromium pages.

No speed is asserted (speed lives in BENCHMARKS.md); only that it completes
on the socket and measures something.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_tiny_browser_push_benchmark_reports_numbers() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.browserpush", "--edits", "2",
         "--min-pause", "0.01", "--max-pause", "0.02"],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=120,
    )
    report = json.loads(done.stdout)
    assert report["transport"] == "websocket"
    assert report["edits"] == 2
    assert 0 < report["p50_ms"] <= report["p95_ms"] <= report["max_ms"]
