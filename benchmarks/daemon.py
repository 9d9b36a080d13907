"""Start the real ``twistd -n mobwrite`` on loopback ports chosen by the kernel.

The one place that runs the daemon as a process and reads its ports from
its log lines: the benchmarks' servers use it, and so do the tests (tests
may import from ``benchmarks``; ``benchmarks`` never imports from tests).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"\b(tcp|gateway|editor): .* listening on .*port=(\d+)")


def twistd_command() -> list[str]:
    """How to run twistd with this interpreter."""
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


class Daemon:
    """A mobwrite daemon in a subprocess, with its log lines collected."""

    def __init__(self, workdir: Path, *options: str, tac: bool = False,
                 pass_fds: tuple[int, ...] = ()) -> None:
        self.workdir = workdir
        self.options = list(options)
        self.tac = tac
        self.pass_fds = pass_fds
        self.ports: dict[str, int] = {}
        self.lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.process: subprocess.Popen[str] | None = None

    def command(self) -> list[str]:
        ports = ["--tcp", "tcp:0:interface=127.0.0.1",
                 "--gateway", "tcp:0:interface=127.0.0.1",
                 "--editor", "tcp:0:interface=127.0.0.1",
                 "--data-dir", str(self.workdir / "data")]
        base = twistd_command() + ["-n", "--pidfile=", "--logfile=-"]
        if self.tac:
            return base + ["-y", str(ROOT / "mobwrite.tac")]
        return base + ["mobwrite"] + ports + self.options

    def environment(self) -> dict[str, str]:
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        if self.tac:
            env["MOBWRITE_OPTIONS"] = " ".join(
                ["--tcp", "tcp:0:interface=127.0.0.1", "--gateway", "tcp:0:interface=127.0.0.1",
                 "--editor", "tcp:0:interface=127.0.0.1",
                 "--data-dir", str(self.workdir / "data")] + self.options)
        return env

    def start(self, timeout: float = 30.0) -> Daemon:
        self.launch()
        return self.listening(timeout)

    def listening(self, timeout: float = 30.0) -> Daemon:
        """Wait until the launched daemon listens on its three ports."""
        while len(self.ports) < 3:
            line = self._lines.get(timeout=timeout)
            if line is None:
                raise RuntimeError("daemon exited:\n" + "".join(self.lines))
            match = _LISTENING.search(line)
            if match:
                self.ports[match[1]] = int(match[2])
        return self

    def launch(self) -> None:
        """Start the process and collect its output lines."""
        self.process = subprocess.Popen(
            self.command(), cwd=self.workdir, env=self.environment(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            pass_fds=self.pass_fds,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_for_log(self, pattern: str, timeout: float = 10.0, after: int = 0) -> str:
        """Block until a log line matching *pattern* arrives (or was seen as
        line *after* or a later one)."""
        for line in self.lines[after:]:
            if re.search(pattern, line):
                return line
        while True:
            arrived = self._lines.get(timeout=timeout)
            if arrived is None:
                raise RuntimeError(f"daemon exited before logging {pattern!r}")
            if re.search(pattern, arrived):
                return arrived

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code

    def exchange(self, data: bytes, timeout: float = 10.0) -> bytes:
        """Send one request over TCP and read until the daemon closes."""
        return tcp_exchange(self.ports["tcp"], data, timeout)


def tcp_exchange(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        if data:
            sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
