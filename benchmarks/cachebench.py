"""The cache's figures (issue 20): start-up over a million stored documents,
the cost of loading an idle document, and editors on more documents than
the memory budget holds.

``build`` writes a data directory's database directly (not over the
protocol): N documents of SIZE bytes, each with one stored view of user
``u`` whose shadow is the text.  ``startup`` starts the real daemon on it
and reads the time to listening (wall clock and the daemon's CPU time),
its resident size and the time the storage alone takes to open, then brings
``--in-use`` documents into memory with one sync each.  ``first-sync``
times, in this process, a sync that must load its document against one
that finds it in memory.  ``editors`` runs paced editors against the
daemon with ``--max-memory`` a tenth of the text stored; ``flood`` creates
large documents from eight clients and weighs the daemon.  Each prints one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import sqlite3
import sys
import threading
import time
from pathlib import Path

from benchmarks.daemon import Daemon
from benchmarks.loadgen import process_times, tcp_exchange
from mobwrite.client.session import ClientSession
from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.settings import Settings
from mobwrite.storage.committer import loader
from mobwrite.storage.disk import JournalStorage
from mobwrite.storage.sqlite import DATABASE_NAME, Database
from mobwrite.tools.loadmodel import percentile

BATCH = 10_000


def text_of(number: int, size: int) -> str:
    """A distinct text of *size* ASCII characters for document *number*."""
    line = f"document {number}: the quick brown fox jumps over the lazy dog. "
    return (line * (size // len(line) + 1))[:size]


def build(directory: Path, documents: int, size: int) -> dict[str, object]:
    """Write *documents* documents (and one view each) into a new database."""
    started = time.perf_counter()
    database = Database(directory)
    database.open()
    database.close()
    connection = sqlite3.connect(directory / DATABASE_NAME, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute("BEGIN")
    # Stored now, so that housekeeping does not expire the views at once.
    now = time.time()
    for first in range(0, documents, BATCH):
        texts, rows, views = [], [], []
        for number in range(first, min(first + BATCH, documents)):
            body = text_of(number, size).encode()
            digest = hashlib.sha256(body).digest()
            # The document and the view's shadow and backup: three references.
            texts.append((digest, body, 3))
            rows.append((f"doc{number}", digest, now))
            views.append(("u", f"doc{number}", digest, digest, 1, 1, 0, "[]", now))
        connection.executemany("INSERT INTO texts VALUES (?, ?, ?)", texts)
        connection.executemany("INSERT INTO documents VALUES (?, ?, ?)", rows)
        connection.executemany("INSERT INTO views VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", views)
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return {"documents": documents, "size": size,
            "file_bytes": (directory / DATABASE_NAME).stat().st_size,
            "seconds": round(time.perf_counter() - started, 1)}


def rss_mib(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    assert match is not None
    return int(match[1]) / 1024


def resume(number: int, size: int) -> bytes:
    """The request of user ``u`` going on with document *number* as ``build`` stored it."""
    return f"u:u\nF:1:doc{number}\nd:1:={size}\n\n".encode()


def startup(workdir: Path, documents: int, size: int, in_use: int) -> dict[str, object]:
    """Start the daemon on ``workdir/data``; time it, weigh it, then use *in_use* documents."""
    storage = JournalStorage(workdir / "data")
    started = time.perf_counter()
    storage.open(Store())
    opened = time.perf_counter() - started
    storage.close()
    daemon = Daemon(workdir)
    started = time.perf_counter()
    daemon.start(timeout=120)
    listening = time.perf_counter() - started
    assert daemon.process is not None
    pid = daemon.process.pid
    at_start = rss_mib(pid)
    cpu = process_times(pid)
    resumed = 0
    try:
        # The first half: ``first-sync`` takes its documents, as built, from the second.
        for number in random.sample(range(documents // 2), in_use):
            reply = daemon.exchange(resume(number, size))
            resumed += reply.startswith(f"F:2:doc{number}\nd:1:".encode())
        in_memory = rss_mib(pid)
    finally:
        daemon.stop()
    return {"documents": documents, "start_up_seconds": round(listening, 2),
            "start_up_cpu_seconds": round(cpu, 2), "open_seconds": round(opened, 3),
            "rss_mib_at_start": round(at_start, 1), "in_use": in_use,
            "resumed_with_deltas": resumed, "rss_mib_in_use": round(in_memory, 1)}


def first_sync(directory: Path, documents: int, size: int, samples: int) -> dict[str, object]:
    """Time syncs that load their document against syncs that find it in memory."""
    storage = JournalStorage(directory)
    store = Store(loader=loader(storage))
    storage.open(store)
    engine = Engine(store, Settings.defaults())
    cold: list[float] = []
    warm: list[float] = []
    try:
        for number in random.sample(range(documents // 2, documents), samples):
            started = time.perf_counter()
            reply = engine.handle(resume(number, size), 10.0).body
            cold.append(time.perf_counter() - started)
            assert reply.startswith(f"F:2:doc{number}\nd:1:".encode()), reply[:80]
            started = time.perf_counter()
            reply = engine.handle(f"u:u\nF:2:doc{number}\nd:2:={size}\n\n".encode(), 11.0).body
            warm.append(time.perf_counter() - started)
            assert reply.startswith(f"F:3:doc{number}\nd:2:".encode()), reply[:80]
            # Nothing is written: the documents stay as built for the next run.
            store.take_changes()
            store.stored()
    finally:
        storage.close()
    cold_ms = sorted(1000 * value for value in cold)
    warm_ms = sorted(1000 * value for value in warm)
    return {"samples": samples,
            "first_sync_ms": {"p50": round(percentile(cold_ms, 50), 3),
                              "p99": round(percentile(cold_ms, 99), 3)},
            "in_memory_sync_ms": {"p50": round(percentile(warm_ms, 50), 3),
                                  "p99": round(percentile(warm_ms, 99), 3)},
            "added_by_loading_ms": {
                "p50": round(percentile(cold_ms, 50) - percentile(warm_ms, 50), 3),
                "p99": round(percentile(cold_ms, 99) - percentile(warm_ms, 99), 3)}}


async def paced_editors(port: int, documents: int, editors: int, seconds: float,
                        new_share: float) -> dict[str, object]:
    """*editors* each syncing once a second on a random stored document (a new
    one with probability *new_share*), typing one character each time."""
    sessions: dict[tuple[int, str], ClientSession] = {}
    latencies: list[float] = []
    errors = 0
    fresh = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5

    async def editor(number: int) -> None:
        nonlocal errors, fresh
        rounds = int(seconds)
        for round_ in range(rounds):
            due = start + round_ + random.random()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if random.random() < new_share:
                fresh += 1
                name = f"new{number}.{round_}"
            else:
                name = f"doc{random.randrange(documents)}"
            session = sessions.get((number, name))
            if session is None:
                session = sessions[number, name] = ClientSession(f"e{number}")
                session.share(name)
            shared = session.documents[name]
            shared.text += chr(97 + round_ % 26)
            try:
                reply = await tcp_exchange(port, session.build_request())
                session.apply_response(reply)
            except (OSError, ValueError):
                errors += 1
                continue
            latencies.append(loop.time() - due)

    await asyncio.gather(*(editor(number) for number in range(editors)))
    ordered = sorted(1000 * value for value in latencies)
    return {"syncs": len(ordered), "errors": errors, "new_documents": fresh,
            "p50_ms": round(percentile(ordered, 50), 1),
            "p99_ms": round(percentile(ordered, 99), 1), "max_ms": round(ordered[-1], 1)}


def editors_run(workdir: Path, documents: int, size: int, editors: int, seconds: float,
                new_share: float, budget: int | None, durability: str) -> dict[str, object]:
    """Paced editors against the daemon with a budget of a tenth of the text stored."""
    budget = documents * size // 10 if budget is None else budget
    daemon = Daemon(workdir, "--max-memory", str(budget), "--durability", durability
                    ).start(timeout=120)
    try:
        result = asyncio.run(paced_editors(daemon.ports["tcp"], documents, editors, seconds,
                                           new_share))
        metrics = daemon_metrics(daemon)
    finally:
        daemon.stop()
    return {"documents": documents, "budget_bytes": budget, "durability": durability,
            "editors": editors,
            "seconds": seconds, **result, **metrics}


def flood(workdir: Path, budget: str, documents: int, size: int) -> dict[str, object]:
    """Eight clients creating *documents* documents of *size* characters each
    under new names; the daemon's resident size before and at its peak."""
    daemon = Daemon(workdir, "--max-memory", budget).start()
    assert daemon.process is not None
    pid = daemon.process.pid
    start = rss_mib(pid)
    peaks: list[float] = []
    refused = 0

    def create(first: int) -> None:
        nonlocal refused
        for number in range(first, documents, 8):
            body = (f"flood {number} " * (size // 6 + 1))[:size]
            reply = daemon.exchange(
                f"u:anon{number}\nF:0:flood{number}\nr:1:{body}\n\n".encode(), timeout=60)
            refused += b"x:no_room:MAX_MEMORY" in reply
            peaks.append(rss_mib(pid))

    started = time.perf_counter()
    try:
        threads = [threading.Thread(target=create, args=(first,)) for first in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        metrics = daemon_metrics(daemon)
    finally:
        daemon.stop()
    return {"budget": budget, "documents": documents, "size": size,
            "seconds": round(seconds, 1), "rss_mib_at_start": round(start, 1),
            "rss_mib_peak": round(max(peaks), 1), "refused": refused, **metrics}


def daemon_metrics(daemon: Daemon) -> dict[str, float]:
    import urllib.request

    page = urllib.request.urlopen(
        f"http://127.0.0.1:{daemon.ports['gateway']}/metrics", timeout=10).read().decode()
    wanted = ("mobwrite_memory_held_bytes", "mobwrite_documents",
              "mobwrite_document_evictions_total", "mobwrite_document_loads_total",
              'mobwrite_limit_refusals_total{limit="MAX_MEMORY"}', "process_resident_memory_bytes")
    found: dict[str, float] = {}
    buckets: dict[str, list[tuple[float, float]]] = {"sync": [], "flush": []}
    for line in page.splitlines():
        name, _, value = line.rpartition(" ")
        if name in wanted:
            found[name] = float(value)
        bucket = re.fullmatch(r'mobwrite_(sync|store_flush)_seconds_bucket\{le="([^"]+)"'
                              r'(,transport="tcp")?\}', name)
        if bucket:
            buckets[bucket[1].removeprefix("store_")].append((float(bucket[2]), float(value)))
    # The daemon's own times, as the bound of the bucket holding the 99th
    # percentile: per request (answer ready and durable), and per write.
    for kind, counts in buckets.items():
        if counts and counts[-1][1]:
            total = counts[-1][1]
            found[f"daemon_{kind}_p99_ms_at_most"] = 1000 * next(
                bound for bound, count in counts if count >= 0.99 * total)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cachebench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("command",
                        choices=["build", "startup", "first-sync", "editors", "flood"])
    parser.add_argument("workdir", type=Path, help="holds data/ (the daemon's --data-dir)")
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--in-use", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--editors", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--new-share", type=float, default=0.01,
                        help="share of syncs that go to a new document")
    parser.add_argument("--max-memory", type=int, default=None,
                        help="the daemon's MAX_MEMORY in bytes (default: a tenth of the text)")
    parser.add_argument("--durability", default="sync", choices=["sync", "snapshot"])
    parser.add_argument("--budget", default="16 MB", help="MAX_MEMORY of the flood")
    options = parser.parse_args(argv)
    data = options.workdir / "data"
    if options.command == "build":
        data.mkdir(parents=True, exist_ok=True)
        result = build(data, options.documents, options.size)
    elif options.command == "startup":
        result = startup(options.workdir, options.documents, options.size, options.in_use)
    elif options.command == "flood":
        result = flood(options.workdir, options.budget, options.documents, options.size)
    elif options.command == "first-sync":
        result = first_sync(data, options.documents, options.size, options.samples)
    else:
        result = editors_run(options.workdir, options.documents, options.size,
                             options.editors, options.seconds, options.new_share,
                             options.max_memory, options.durability)
    json.dump({"command": options.command, **result}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
