"""The WebSocket benchmark still runs: a tiny run against the real daemon and the echo server.

No speed is asserted (speed lives in BENCHMARKS.md); only that every part
completes and measures something.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_tiny_push_benchmark_reports_numbers() -> None:
    """Three propagated edits and half a second of each back-to-back run."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.pushbench", "--edits", "3", "--editors", "2",
         "--duration", "0.5", "--min-pause", "0.01", "--max-pause", "0.02"],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=120,
    )
    report = json.loads(done.stdout)
    assert report["propagation"]["edits"] == 3
    assert report["propagation"]["p95_ms"] > 0
    # Nearest rank: the 95th percentile of three values is the largest.
    assert report["propagation"]["p95_ms"] == report["propagation"]["max_ms"]
    for run in ("socket", "tcp", "echo"):
        assert report[run]["syncs_per_s"] > 0 and report[run]["p95_ms"] > 0
