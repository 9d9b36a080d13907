"""The many-sockets benchmark still runs: a tiny crowd against the real daemon.

No speed is asserted (speed lives in BENCHMARKS.md); only that every typed
edit reaches every other socket of its document, across load generator
processes, and that the figures are reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("options", [
    ["--documents", "3"],
    # One document's sockets in two processes, taking pushed deltas.
    ["--documents", "1", "--deltas"],
])
def test_tiny_crowd_delivers_every_edit(options: list[str]) -> None:
    """Nine sockets in two processes; two of them type for 2 s."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.crowd", "--sockets", "9", "--typists", "2",
         "--rate", "2", "--duration", "2", "--workers", "2", *options],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=120,
    )
    report = json.loads(done.stdout)
    assert report["typed"] == 8
    assert report["delivered"] == 8
    assert report["late"] == report["errors"] == report["displaced"] == report["diverged"] == 0
    assert 0 < report["p50_ms"] <= report["p99_ms"] <= report["max_ms"]
    assert report["syncs"] >= 8 and report["bytes_per_socket_with_view"] != 0
    if "--deltas" in options:
        assert report["pushes_applied"] > 0
