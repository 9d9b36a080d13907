"""Daemons on PostgreSQL against one embedded daemon: CPU per sync and latency.

    python -m benchmarks.postgresql --daemons 3 --editors 300 --documents 30

starts a throw-away PostgreSQL server (benchmarks/postgres.py), then the daemons
on one database of it (``--daemons 0``: one daemon on the embedded store
instead), and runs simulated editors that each sync at ``--rate`` Hz,
every sync to a random daemon.  It prints one JSON line: syncs, latency
percentiles, errors, the daemons' CPU milliseconds per sync (read from
/proc; PostgreSQL's own CPU is counted apart) and how long each sync held
its document's lock (from the daemons' last log line).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from twisted.internet import defer, task

from benchmarks.daemon import Daemon
from benchmarks.postgres import PostgresServer
from mobwrite.client import operations
from mobwrite.client.errors import ClientError
from mobwrite.client.session import ClientSession, random_id
from mobwrite.client.txclient import IClientReactor, TwistedClient
from mobwrite.tools.loadmodel import type_into
from mobwrite.tools.loadtest import Tally, summary


def cpu_seconds(pids: list[int], reaped: bool = False) -> float:
    """User and system CPU seconds used so far by the live processes among *pids*
    (with *reaped*, also by the children they reaped)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += sum(int(value) for value in fields[11:15 if reaped else 13])
    return total / 100.0


def postgres_cpu(server: PostgresServer) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster with the backends it reaped,
    and the backends alive now."""
    main = int((server.data / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{main}/task/{main}/children").read_text().split()
    return cpu_seconds([main], reaped=True) + cpu_seconds([int(pid) for pid in children])


async def editors(reactor: IClientReactor, ports: list[int], count: int, documents: int,
                  rate: float, duration: float) -> Tally:
    """*count* editors on *documents* documents, each sync to a random daemon."""
    clients = [TwistedClient(reactor, f"telnet://127.0.0.1:{port}", 10.0) for port in ports]
    rng = random.Random(1)
    run = random_id()
    tally = Tally()
    pending: set[defer.Deferred[None]] = set()

    def tick(session: ClientSession, busy: dict[str, bool]) -> None:
        if busy["now"]:
            tally.skipped += 1
            return
        for document in session.documents.values():
            if rng.random() < 0.5:
                document.text = type_into(document.text, rng)
        busy["now"] = True

        async def exchange() -> None:
            started = time.perf_counter()
            try:
                await rng.choice(clients).run(operations.sync(session))
            except ClientError as error:
                tally.fail(error)
            else:
                tally.record(time.perf_counter() - started)
            finally:
                busy["now"] = False

        done = defer.ensureDeferred(exchange())
        pending.add(done)
        done.addBoth(lambda _: pending.discard(done))

    loops = []
    for index in range(count):
        session = ClientSession()
        session.share(f"bench_{run}_{index % documents}")
        loop = task.LoopingCall(tick, session, {"now": False})
        loop.clock = reactor
        reactor.callLater(rng.uniform(0, 1.0 / rate), loop.start, 1.0 / rate)
        loops.append(loop)
    await task.deferLater(reactor, duration, lambda: None)
    for loop in loops:
        if loop.running:
            loop.stop()
    await defer.DeferredList(list(pending))
    return tally


async def measure(reactor: IClientReactor, options: argparse.Namespace) -> dict[str, Any]:
    server = PostgresServer().start() if options.daemons else None
    workdir = Path(tempfile.mkdtemp(prefix="mobwrite-bench-pg-"))
    daemons: list[Daemon] = []
    try:
        extra = ["--database", server.new_database()] if server is not None else []
        for index in range(max(1, options.daemons)):
            (workdir / str(index)).mkdir()
            daemons.append(Daemon(workdir / str(index), *extra))
            daemons[-1].launch()
        for daemon in daemons:
            daemon.listening()
        pids = [daemon.process.pid for daemon in daemons if daemon.process is not None]
        before = cpu_seconds(pids)
        database_before = postgres_cpu(server) if server is not None else 0.0
        started = time.monotonic()
        tally = await editors(reactor, [d.ports["tcp"] for d in daemons], options.editors,
                              options.documents, options.rate, options.duration)
        figures = summary(tally, time.monotonic() - started, "editors")
        syncs = max(1, figures["syncs"])
        figures.update(
            daemons=options.daemons, editors=options.editors, documents=options.documents,
            daemon_cpu_ms_per_sync=round(1000 * (cpu_seconds(pids) - before) / syncs, 3),
            postgres_cpu_ms_per_sync=round(1000 * (
                (postgres_cpu(server) if server is not None else 0.0) - database_before)
                / syncs, 3))
        for daemon in daemons:
            daemon.stop()
        held = [float(match[1]) for daemon in daemons for line in daemon.lines
                if (match := re.search(r"holding document locks ([\d.]+) ms", line))]
        if held:
            figures["lock_held_ms_per_sync"] = round(sum(held) / len(held), 3)
        return figures
    finally:
        for daemon in daemons:
            if daemon.process is not None and daemon.process.poll() is None:
                daemon.stop()
        if server is not None:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--daemons", type=int, default=1,
                        help="daemons on one PostgreSQL database; 0: one embedded daemon")
    parser.add_argument("--editors", type=int, default=100)
    parser.add_argument("--documents", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1.0, help="syncs per second per editor")
    parser.add_argument("--duration", type=float, default=20.0)
    options = parser.parse_args(argv)

    async def run(reactor: IClientReactor) -> None:
        print(json.dumps(await measure(reactor, options)))

    task.react(run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
