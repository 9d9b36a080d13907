"""The shipped systemd units: hardened, their command lines valid, socket activation real."""

from __future__ import annotations

import fcntl
import shlex
import signal
import socket
import sqlite3
import sys
from pathlib import Path

import pytest
from http_client import fetch_path

from benchmarks.daemon import ROOT, Daemon, twistd_command
from mobwrite.daemon.tap import ENDPOINTS, Options

DEPLOY = ROOT / "deploy"
SERVICES = [DEPLOY / "mobwrite.service", DEPLOY / "socket-activated" / "mobwrite.service"]
Unit = dict[str, dict[str, list[str]]]

# Sets what systemd sets for an activated service, then becomes the daemon.
ACTIVATE = """
import os, sys
inherited = [int(fd) for fd in sys.argv[1].split(",")]
for index, fd in enumerate(inherited):
    os.dup2(fd, 3 + index)
    os.close(fd)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(len(inherited)),
                  LISTEN_FDNAMES=":".join(["mobwrite.socket"] * len(inherited)))
os.execv(sys.argv[2], sys.argv[2:])
"""


def read_unit(path: Path) -> Unit:
    """A unit file as section → key → values (a key may repeat, as systemd allows)."""
    unit: Unit = {}
    section: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        key, equals, value = line.partition("=")
        assert equals, f"{path}: not KEY=value: {line!r}"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def daemon_arguments(unit: Unit) -> list[str]:
    """The arguments ExecStart gives to ``twistd ... mobwrite``."""
    (command,) = unit["Service"]["ExecStart"]
    argv = shlex.split(command)
    assert argv[0].endswith("/twistd")
    assert argv[1:4] == ["-n", "--pidfile=", "mobwrite"]
    return argv[4:]


@pytest.mark.parametrize("path", SERVICES, ids=lambda path: path.parent.name)
def test_service_is_hardened_and_restarts(path: Path) -> None:
    """Each service unit runs as a dynamic user in its own state directory,
    restarts on failure, stops by SIGTERM in bounded time and is sandboxed."""
    service = {key: values[-1] for key, values in read_unit(path)["Service"].items()}
    expected = {
        "DynamicUser": "yes", "StateDirectory": "mobwrite", "Restart": "on-failure",
        "KillSignal": "SIGTERM", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
        "MemoryDenyWriteExecute": "yes", "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    }
    assert {key: service.get(key) for key in expected} == expected
    assert service["TimeoutStopSec"].endswith("s")
    assert "@system-service" in read_unit(path)["Service"]["SystemCallFilter"]
    assert "--data-dir=/var/lib/mobwrite" in daemon_arguments(read_unit(path))


def test_plain_service_command_line_is_accepted() -> None:
    """The plain unit's options pass mobwrite's own option parser unchanged."""
    options = Options()
    options.parseOptions(daemon_arguments(read_unit(SERVICES[0])))
    assert options["data-dir"] == "/var/lib/mobwrite"
    assert [options[name] for name, _, _ in ENDPOINTS] == [
        default for _, default, _ in ENDPOINTS]


def test_socket_unit_order_matches_the_service_indexes() -> None:
    """ListenStream lines come in the order of the --tcp/--gateway/--editor indexes."""
    socket_unit = read_unit(DEPLOY / "socket-activated" / "mobwrite.socket")
    listening = socket_unit["Socket"]["ListenStream"]
    arguments = daemon_arguments(read_unit(SERVICES[1]))
    for index, (name, default, _) in enumerate(ENDPOINTS):
        assert f"--{name}=systemd:domain=INET:index={index}" in arguments
        port = default.split(":")[1]
        assert listening[index] == f"127.0.0.1:{port}"


class ActivatedDaemon(Daemon):
    """The socket-activated unit's ExecStart, run with sockets the test opened."""

    def __init__(self, workdir: Path, arguments: list[str], inherited: tuple[int, ...]) -> None:
        super().__init__(workdir, pass_fds=inherited)
        self.arguments = arguments
        self.inherited = inherited

    def command(self) -> list[str]:
        twistd = twistd_command()
        return [sys.executable, "-c", ACTIVATE, ",".join(map(str, self.inherited)),
                twistd[0], *twistd[1:], "-n", "--pidfile=", "mobwrite", *self.arguments]


def test_socket_activated_service_serves_its_inherited_sockets(tmp_path: Path) -> None:
    """The daemon, started as the socket unit would start it, serves TCP, the
    gateway and the editor on the sockets it inherited, and on SIGTERM stores
    everything before it exits."""
    arguments = [
        f"--data-dir={tmp_path / 'state'}" if argument.startswith("--data-dir=") else argument
        for argument in daemon_arguments(read_unit(SERVICES[1]))
    ]
    sockets = []
    for _ in ENDPOINTS:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        sockets.append(listener)
    ports = [listener.getsockname()[1] for listener in sockets]
    # Above the 3, 4, 5 the daemon expects, so moving them down never overwrites one.
    inherited = tuple(fcntl.fcntl(listener.fileno(), fcntl.F_DUPFD_CLOEXEC, 50)
                      for listener in sockets)
    daemon = ActivatedDaemon(tmp_path, arguments, inherited)
    try:
        daemon.start()
    finally:
        for listener in sockets:
            listener.close()
        for fd in inherited:
            socket.close(fd)
    try:
        assert [daemon.ports[name] for name, _, _ in ENDPOINTS] == ports
        assert daemon.exchange(b"u:unit0001\nF:0:activated\nr:1:socket\n\n") == (
            b"F:1:activated\nd:0:=6\n")
        assert fetch_path(daemon.ports["gateway"], "/healthz").status == 200
        assert "activated" in fetch_path(daemon.ports["editor"], "/status").body.decode()
    finally:
        code = daemon.stop()
    assert code == -signal.SIGTERM
    daemon.wait_for_log(r"storage: everything stored in .*mobwrite.sqlite3")
    daemon.wait_for_log(r"mobwrite stopped cleanly with 1 documents and 1 views")
    with sqlite3.connect(tmp_path / "state" / "mobwrite.sqlite3") as database:
        dump = "\n".join(database.iterdump())
    database.close()
    assert "activated" in dump
