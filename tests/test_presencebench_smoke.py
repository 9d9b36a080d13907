"""The presence benchmark still runs: a tiny run against the real daemon.

No speed is asserted (speed lives in BENCHMARKS.md); only that its people
publish, the daemon sends updates, and its clients read them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_tiny_presence_benchmark_reports_numbers() -> None:
    """Three people moving their carets for a second: updates go out and are read."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.presencebench", "--people", "3", "--rate", "5",
         "--duration", "1"],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=120,
    )
    report = json.loads(done.stdout)
    assert report["published_per_s"] > 0
    assert report["updates_sent_per_s"] > 0
    assert report["updates_received_per_s"] > 0
    assert report["server_cpu"] > 0
