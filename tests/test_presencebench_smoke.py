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
    """Twenty people moving their carets ten times a second for a second: updates go out
    and are read. (Enough work that the daemon's CPU time, counted in 10 ms ticks, is
    never zero: with three people it could be.)"""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.presencebench", "--people", "20", "--rate", "10",
         "--duration", "1"],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=120,
    )
    report = json.loads(done.stdout)
    assert report["published_per_s"] > 0
    assert report["updates_sent_per_s"] > 0
    assert report["updates_received_per_s"] > 0
    assert report["server_cpu"] > 0
