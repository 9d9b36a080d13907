"""The benchmark still runs: a tiny grid against the real daemon and the baseline.

No speed is asserted here (speed lives in BENCHMARKS.md); only that the
run completes, measures something, and sees no errors or divergence.
"""

from __future__ import annotations

import ast
import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.loadgen import GatewayMissing, HttpConnection

ROOT = Path(__file__).resolve().parent.parent


def test_tiny_run_reports_numbers(tmp_path: Path) -> None:
    """Two editors on one 1 KB document, one trial each on mobwrite and the baseline."""
    subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--editors", "2", "--documents", "1",
         "--sizes", "1K", "--rates", "0", "--transports", "tcp", "--trials", "1",
         "--duration", "1", "--view-memory", "5", "--out", str(tmp_path)],
        cwd=ROOT, check=True, capture_output=True, timeout=120,
    )
    report = json.loads((tmp_path / "results.json").read_text())
    (entry,) = report["results"]
    for server in ("mobwrite", "baseline"):
        summary = entry[server]
        assert summary["syncs_per_s"] > 0 and summary["p99_ms"] > 0
        assert summary["peak_rss"] > 0
        assert (summary["errors"], summary["resyncs"], summary["diverged"]) == (0, 0, 0)
    assert report["machine"]["cores"] >= 1
    assert report["view_memory"][0]["per_view_bytes"] > 0
    assert (tmp_path / "tcp.png").read_bytes().startswith(b"\x89PNG")


def test_http_transport_names_a_missing_gateway() -> None:
    """A 404 from the HTTP port stops the load generator with a clear message."""

    async def not_found(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nNo such.\r\n")
        await writer.drain()
        writer.close()

    async def attempt() -> None:
        server = await asyncio.start_server(not_found, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        connection = HttpConnection(port, "/")
        try:
            await connection.exchange(b"u:someone\n\n")
        finally:
            connection.close()
            server.close()
            await server.wait_closed()

    with pytest.raises(GatewayMissing, match="answered 404"):
        asyncio.run(attempt())



def test_benchmarks_never_import_the_tests() -> None:
    """benchmarks/ stands alone: no test helper imported, no path into tests/."""
    helpers = {path.stem for path in (ROOT / "tests").glob("*.py")}
    for module in (ROOT / "benchmarks").glob("*.py"):
        tree = ast.parse(module.read_text(), str(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            assert not {name.split(".")[0] for name in names} & (helpers | {"tests"}), module.name
        assert "sys.path" not in module.read_text(), module.name


def test_the_postgresql_benchmark_checks_every_sync_on_the_embedded_store() -> None:
    """Four editors syncing once a second for 2 s (``--daemons 0``: one embedded
    daemon, no PostgreSQL): every sync answered and checked, the figures reported."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.postgresql", "--daemons", "0", "--editors", "4",
         "--documents", "2", "--duration", "2"],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=120,
    )
    report = json.loads(done.stdout.splitlines()[-1])
    assert (report["syncs"], report["errors"], report["skipped"]) == (8, 0, 0)
    assert 0 < report["p50_ms"] <= report["p99_ms"]
    assert report["daemon_cpu_ms_per_sync"] > 0 and report["generator_cpu_ms_per_sync"] > 0
