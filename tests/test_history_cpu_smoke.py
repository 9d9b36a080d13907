"""benchmarks/history_cpu.py still runs, and its two daemons differ in their history alone.

No speed is asserted (it lives in BENCHMARKS.md): the "off" daemon of
benchmarks/history.tac keeps no revision, the "on" one does, and a tiny
run of each mode completes without errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from http_client import fetch

from benchmarks.daemon import ROOT, tcp_exchange
from benchmarks.history_cpu import HistoryDaemon


@pytest.mark.parametrize(("history", "head"), [(False, 0), (True, 1)])
def test_the_daemons_differ_in_history_alone(tmp_path: Path, history: bool, head: int) -> None:
    daemon = HistoryDaemon(tmp_path, history, "--max-chars", "0").start()
    try:
        assert tcp_exchange(daemon.ports["tcp"], b"u:a\nF:0:doc\nr:1:hello\n\n")
        reply = fetch(f"http://127.0.0.1:{daemon.ports['gateway']}/api/v1/documents/doc/revisions")
        assert json.loads(reply.body)["head"] == head
        assert json.loads(fetch(f"http://127.0.0.1:{daemon.ports['gateway']}"
                                "/api/v1/documents/doc").body)["text"] == "hello"
    finally:
        daemon.stop()


def test_tiny_runs_report_numbers() -> None:
    """Two editors for a second, end to end and in process."""
    for mode in ([], ["--in-process"]):
        run = subprocess.run(
            [sys.executable, "-m", "benchmarks.history_cpu", "--trials", "1", "--editors", "2",
             "--duration", "1", *mode],
            cwd=ROOT, check=True, capture_output=True, text=True, timeout=120)
        results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        assert sorted(result["variant"] for result in results) == ["off", "on"]
        for result in results:
            assert result["syncs"] > 0
            assert result.get("errors", 0) == result.get("diverged", 0) == 0
