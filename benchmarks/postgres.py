"""A throw-away PostgreSQL server for the tests: its own directory, a Unix socket.

Debian's ``postgresql`` package provides the binaries (``make test-setup``
installs it); the server runs as the ``postgres`` system user when the tests
run as root, since PostgreSQL refuses to run as root.  Nothing listens on
TCP, and the data directory is deleted when the server stops.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from itertools import count
from pathlib import Path

_NAMES = count(1)


def binaries() -> Path:
    """The newest installed PostgreSQL's bin directory."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(Path(path).parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make test-setup`")
    return Path(found[-1]).parent


class PostgresServer:
    """initdb, start, databases on demand, stop (and delete everything)."""

    def __init__(self) -> None:
        self.bin = binaries()
        self.root = Path(tempfile.mkdtemp(prefix="mobwrite-pg-"))
        self.data = self.root / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def run(self, program: str, *arguments: str) -> None:
        subprocess.run(self.as_user + [str(self.bin / program), *arguments],
                       check=True, capture_output=True, cwd=self.root)

    def start(self) -> PostgresServer:
        # fsync off: the tests crash daemons, never the machine.
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                 "-E", "UTF8", "--locale=C", "--no-sync")
        self.pg_ctl("start")
        return self

    def pg_ctl(self, action: str) -> None:
        """Start, stop or restart the server, waiting until it is done."""
        options = f"-k {self.root} -c listen_addresses='' -c fsync=off -c max_connections=200"
        arguments = ["-D", str(self.data), "-w", "-l", str(self.root / "log"), "-m", "fast"]
        if action != "stop":
            arguments += ["-o", options]
        self.run("pg_ctl", action, *arguments)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.root}"

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        import psycopg

        name = f"test{next(_NAMES)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self.pg_ctl("stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
