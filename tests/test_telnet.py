"""A person at telnet, or at ``mobwrite raw``: requests typed by hand are answered."""

from __future__ import annotations

import os
import pty
import secrets
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from servers import Endpoint

from benchmarks.daemon import ROOT, Daemon

# Longer than the old 2 s limit a line; the default TIMEOUT_TELNET is 30 s.
TYPING_PAUSE = 2.5


def test_a_request_typed_line_by_line_is_answered(daemon: Daemon) -> None:
    """Lines sent with pauses longer than the old idle limit, on a real socket,
    with the default settings, get their answer."""
    name = f"typed_{secrets.token_hex(4)}"
    with socket.create_connection(("127.0.0.1", daemon.ports["tcp"]), timeout=30) as sock:
        for line in (b"u:typist\r\n", f"F:0:{name}\r\n".encode(), b"r:1:typed by hand\r\n"):
            sock.sendall(line)
            # The pause is the behaviour under test: a person typing the next line.
            time.sleep(TYPING_PAUSE)
        sock.sendall(b"\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer == f"F:1:{name}\nd:0:=13\n".encode()


def test_silence_still_closes_the_connection(tmp_path: Path) -> None:
    """A connection that never completes a line is closed after TIMEOUT_TELNET (set
    short here), with no answer."""
    quick = Daemon(tmp_path, "--timeout-telnet", "1", "--durability", "memory").start()
    try:
        with socket.create_connection(("127.0.0.1", quick.ports["tcp"]), timeout=30) as sock:
            sock.sendall(b"u:never-ends")
            assert sock.recv(1) == b""
    finally:
        quick.stop()


class Terminal:
    """The controlling side of a pseudo-terminal, read up to what is expected."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pending = b""

    def expect(self, wanted: bytes, timeout: float = 30.0) -> None:
        """Wait until *wanted* is shown; consume the output up to its end."""
        deadline = time.monotonic() + timeout
        while wanted not in self.pending:
            ready, _, _ = select.select([self.fd], [], [],
                                        max(0.0, deadline - time.monotonic()))
            assert ready, f"no {wanted!r} on the terminal; saw {self.pending!r}"
            self.pending += os.read(self.fd, 4096)
        self.pending = self.pending.split(wanted, 1)[1]

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")


def test_raw_prompts_at_a_terminal(endpoint: Endpoint) -> None:
    """On a terminal, ``mobwrite raw`` prompts, sends each request at an empty line,
    prints the answer and ends at Ctrl-D."""
    name = f"prompted_{secrets.token_hex(4)}"
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "mobwrite", "raw", endpoint.url], stdin=terminal,
        stdout=terminal, stderr=terminal, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    os.close(terminal)
    screen = Terminal(controller)
    try:
        screen.expect(b"an empty line sends it")
        for prompt, line in ((b"> ", "u:prompted"), (b"... ", f"F:0:{name}"),
                             (b"... ", "r:1:Hello"), (b"... ", "")):
            screen.expect(prompt)
            screen.type(line)
        screen.expect(f"F:1:{name}\r\nd:0:=5\r\n".encode())
        screen.expect(b"> ")
        os.write(controller, b"\x04")
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    assert endpoint.text_of(name) == "Hello"
