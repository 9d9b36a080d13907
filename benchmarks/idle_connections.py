"""Memory of idle TCP connections held open on a real daemon (issue 14).

Starts ``twistd mobwrite`` with its default settings (memory durability, so
the disk plays no part), reads its resident memory, opens N connections
to the raw TCP port that send nothing (a person who has not typed yet),
waits until the daemon has accepted them all, and reads the memory again.
Then it closes them.  Nothing here is a test: it prints figures.

    python -m benchmarks.idle_connections --connections 1000
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.daemon import Daemon


def rss_kib(pid: int) -> int:
    """Resident memory of process *pid*, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match is not None
    return int(match[1])


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def measure(count: int) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 200
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    workdir = tempfile.TemporaryDirectory()
    daemon = Daemon(Path(workdir.name), "--durability", "memory").start()
    assert daemon.process is not None
    pid, port = daemon.process.pid, daemon.ports["tcp"]
    sockets: list[socket.socket] = []
    try:
        time.sleep(1.0)  # let start-up allocations settle
        before = rss_kib(pid)
        fds_before = open_fds(pid)
        for _ in range(count):
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        deadline = time.monotonic() + 30
        while open_fds(pid) < fds_before + count and time.monotonic() < deadline:
            time.sleep(0.05)
        accepted = open_fds(pid) - fds_before
        after = rss_kib(pid)
    finally:
        for sock in sockets:
            sock.close()
        daemon.stop()
        workdir.cleanup()
    return {"connections": count, "accepted": accepted, "rss_before_kib": before,
            "rss_after_kib": after, "kib_per_connection": round((after - before) / count, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.connections)))


if __name__ == "__main__":
    main()
