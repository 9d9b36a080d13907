"""Daemons on PostgreSQL against one embedded daemon: CPU per sync and latency.

    python -m benchmarks.postgresql --daemons 3 --editors 300 --documents 30

starts a throw-away PostgreSQL server (benchmarks/postgres.py), then the daemons
on one database of it (``--daemons 0``: one daemon on the embedded store
instead), and runs simulated editors that each sync at ``--rate`` Hz,
every sync to a random daemon.  It prints one JSON line: syncs, latency
percentiles, errors, the daemons' CPU milliseconds per sync (read from
/proc; PostgreSQL's own CPU and the load generator's are counted apart), how
long each sync held its document's lock (from the daemons' last log line),
and the machine's load average (1 minute) before and after.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from twisted.internet import defer, task
from twisted.python.failure import Failure

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
    """*count* editors on *documents* documents, each sync to a random daemon.

    Each editor's syncs are due at fixed moments, one every 1/*rate* s, and each
    latency counts from the moment its sync was due (so a generator that falls
    behind adds its delay to the figures instead of hiding it); a sync due while
    the editor's previous one is unanswered is skipped, and counted.
    """
    clients = [TwistedClient(reactor, f"telnet://127.0.0.1:{port}", 10.0) for port in ports]
    rng = random.Random(1)
    run = random_id()
    tally = Tally()
    pending: set[defer.Deferred[None]] = set()
    interval = 1.0 / rate
    end = reactor.seconds() + duration

    def tick(session: ClientSession, busy: dict[str, bool], due: float) -> None:
        if due + interval < end:
            reactor.callLater(max(0.0, due + interval - reactor.seconds()),
                              tick, session, busy, due + interval)
        if busy["now"]:
            tally.skipped += 1
            return
        for document in session.documents.values():
            if rng.random() < 0.5:
                document.text = type_into(document.text, rng)
        busy["now"] = True

        def answered(result: None | Failure) -> None | Failure:
            busy["now"] = False
            pending.discard(done)
            if result is None:
                tally.record(reactor.seconds() - due)
            elif isinstance(result.value, ClientError):
                tally.fail(result.value)
            else:
                return result
            return None

        # Callbacks, not a coroutine per sync: the generator's own cost is taken
        # from the daemons' CPU on a shared machine.
        done = rng.choice(clients).run(operations.sync(session))
        pending.add(done)
        done.addBoth(answered)

    for index in range(count):
        session = ClientSession()
        session.share(f"bench_{run}_{index % documents}")
        first = rng.uniform(0, interval)
        reactor.callLater(first, tick, session, {"now": False}, end - duration + first)
    await task.deferLater(reactor, duration, lambda: None)
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
        load_before = os.getloadavg()[0]
        # What start-up made (Twisted, the daemons' handles) is never garbage: frozen, it
        # leaves the generator's full collections, each of which (34-154 ms measured)
        # stalled every sync due or in flight.
        gc.collect()
        gc.freeze()
        generator_before = time.process_time()
        started = time.monotonic()
        tally = await editors(reactor, [d.ports["tcp"] for d in daemons], options.editors,
                              options.documents, options.rate, options.duration)
        figures = summary(tally, time.monotonic() - started, "editors")
        syncs = max(1, figures["syncs"])
        generator = time.process_time() - generator_before
        figures.update(
            daemons=options.daemons, editors=options.editors, documents=options.documents,
            daemon_cpu_ms_per_sync=round(1000 * (cpu_seconds(pids) - before) / syncs, 3),
            postgres_cpu_ms_per_sync=round(1000 * (
                (postgres_cpu(server) if server is not None else 0.0) - database_before)
                / syncs, 3),
            generator_cpu_ms_per_sync=round(1000 * generator / syncs, 3),
            load_average=[load_before, os.getloadavg()[0]])
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
