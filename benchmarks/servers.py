"""Starting and stopping the servers under test: the real daemon and the baseline.

Each trial gets a fresh process so that its peak RSS and its state belong
to that trial alone.  Both listen on kernel-chosen loopback ports, read
back from their log lines.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from benchmarks.daemon import ROOT, Daemon

BACKLOG = 1024
_BASELINE_PORT = re.compile(r"baseline: (tcp|http) listening on port=(\d+)")


class Server(Protocol):
    """A running server: its process id and a port per transport."""

    pid: int
    ports: dict[str, int]

    def stop(self) -> None: ...


class Mobwrite:
    """``twistd -n mobwrite`` with documents as large as the benchmark needs."""

    def __init__(self) -> None:
        self.workdir = tempfile.TemporaryDirectory(prefix="mobwrite-bench-")
        # The tcp option is given again so that it wins over Daemon's own.
        self.daemon = Daemon(
            Path(self.workdir.name), "--max-chars", "0",
            "--tcp", f"tcp:0:interface=127.0.0.1:backlog={BACKLOG}",
        )
        try:
            self.daemon.start()
        except BaseException:
            if self.daemon.process is not None:
                self.daemon.stop()
            self.workdir.cleanup()
            raise
        assert self.daemon.process is not None
        self.pid = self.daemon.process.pid
        self.ports = {"tcp": self.daemon.ports["tcp"], "http": self.daemon.ports["gateway"]}

    def stop(self) -> None:
        self.daemon.stop()
        self.workdir.cleanup()


class Baseline:
    """benchmarks/baseline.py in its own process."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.baseline"], cwd=ROOT,
            stdout=subprocess.PIPE, text=True,
        )
        self.pid = self.process.pid
        self.ports: dict[str, int] = {}
        assert self.process.stdout is not None
        while len(self.ports) < 2:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the baseline server exited before listening")
            match = _BASELINE_PORT.search(line)
            if match:
                self.ports[match[1]] = int(match[2])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        assert self.process.stdout is not None
        self.process.stdout.close()


SERVERS: dict[str, Callable[[], Server]] = {"mobwrite": Mobwrite, "baseline": Baseline}
