"""Many socket editors at once: propagation to the last other editor, and memory per socket.

Run as ``python -m benchmarks.crowd``; it starts a fresh daemon, opens
``--sockets`` WebSockets spread evenly over ``--documents`` documents (in
``--workers`` load generator processes, each holding whole documents), lets
every socket join its document, then has ``--typists`` of them (spread over
the documents in turn) type at ``--rate`` edits a second for ``--duration``
seconds.  Every socket syncs when it types and when a notice arrives, with
at most one request in flight (a notice or an edit during a sync starts one
more sync after it), as the browser client does.

Each typist owns a counter in the text, ``[T:N]``; an edit raises it by one
(so edits never clash, and the document stays its starting prose plus one
counter per typist).  An edit is *delivered* when every other socket of its
document holds a counter at least as high; its propagation time runs from
the moment of typing (before waiting for any sync in flight) to that of the
last holder.  After typing stops the sockets get ``--settle`` seconds to
receive what is still on its way; edits not delivered by then are counted
as *late*.  Then every socket syncs once more, and each document's sockets
must hold the same text (else the document counts as *diverged*).

One JSON object is printed: propagation percentiles, edits typed,
delivered and late, documents whose sockets differ, the daemon's CPU and
resident memory (before the sockets, with them open and synced, and per
socket), and the load generators' CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.daemon import ROOT, Daemon
from benchmarks.loadgen import process_times
from benchmarks.pushbench import AsyncSocket, resident
from mobwrite.client.session import ClientSession, SharedText
from mobwrite.tools.loadmodel import make_text, percentile

COUNTER = re.compile(r"\[(\d+):(\d+)\]")
JOIN_AT_ONCE = 200


def raise_fd_limit() -> None:
    """Let this process (and the daemon it starts) hold as many sockets as allowed."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Editor:
    """One socket editing one document, and the counters it has seen."""

    number: int
    document: Document
    socket: AsyncSocket
    session: ClientSession
    shared: SharedText
    seen: dict[int, int] = field(default_factory=dict)


@dataclass
class Document:
    """A document's editors and its edits still travelling."""

    name: str
    editors: list[Editor] = field(default_factory=list)
    typed_at: dict[tuple[int, int], float] = field(default_factory=dict)
    waiting: dict[tuple[int, int], int] = field(default_factory=dict)


class Worker:
    """The editors of some documents, in one process."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.latencies: list[float] = []
        self.typed = 0
        self.syncs = 0
        self.errors = 0
        self.syncing = True
        self.tasks: list[asyncio.Task[None]] = []

    def observe(self, editor: Editor) -> None:
        """Count the counters *editor* now holds beyond those it had seen."""
        now = time.monotonic()
        document = editor.document
        for match in COUNTER.finditer(editor.shared.text):
            typist, count = int(match[1]), int(match[2])
            for edit in range(editor.seen.get(typist, 0) + 1, count + 1):
                key = (typist, edit)
                if key in document.waiting:
                    document.waiting[key] -= 1
                    if document.waiting[key] == 0:
                        del document.waiting[key]
                        self.latencies.append(now - document.typed_at.pop(key))
            editor.seen[typist] = max(count, editor.seen.get(typist, 0))

    async def sync(self, editor: Editor) -> None:
        try:
            answer = await asyncio.wait_for(
                editor.socket.exchange(editor.session.build_request()), 30)
            editor.session.apply_response(answer)
            self.syncs += 1
        except Exception:  # noqa: BLE001 - a benchmark counts failures, it does not stop
            self.errors += 1
            return
        self.observe(editor)

    async def keep_synced(self, editor: Editor) -> None:
        """Sync whenever a notice arrives or the editor typed (one sync at a time)."""
        while self.syncing:
            await editor.socket.noticed.wait()
            editor.socket.noticed.clear()
            await self.sync(editor)

    async def type(self, editor: Editor, typist: int, start: float, end: float,
                   rate: float, rng: random.Random) -> None:
        """Raise this typist's counter *rate* times a second on schedule."""
        moment = start + rng.uniform(0, 1 / rate)
        count = 0
        while moment < end:
            await asyncio.sleep(max(0.0, moment - time.monotonic()))
            text = editor.shared.text
            old = f"[{typist}:{count}]"
            if old not in text:
                self.errors += 1
                return
            count += 1
            editor.shared.text = text.replace(old, f"[{typist}:{count}]")
            editor.seen[typist] = count
            key = (typist, count)
            editor.document.typed_at[key] = time.monotonic()
            editor.document.waiting[key] = len(editor.document.editors) - 1
            self.typed += 1
            editor.socket.noticed.set()
            moment += 1 / rate

    async def join(self, port: int) -> list[tuple[Editor, int]]:
        """Open every socket and sync it once; the typists among them, with their numbers."""
        rng = random.Random(self.spec["seed"])
        prose = make_text(1024, rng)
        documents: list[Document] = []
        typists: list[tuple[Editor, int]] = []
        plans: list[tuple[Document, int, int | None, str]] = []
        for entry in self.spec["documents"]:
            document = Document(entry["name"])
            documents.append(document)
            counters = "".join(f" [{t}:0]" for t in entry["typists"])
            for slot in range(entry["editors"]):
                typist = entry["typists"][slot] if slot < len(entry["typists"]) else None
                plans.append((document, slot, typist, prose + counters if slot == 0 else ""))

        async def open_one(plan: tuple[Document, int, int | None, str]) -> None:
            document, slot, typist, text = plan
            socket = AsyncSocket()
            await socket.open(port)
            session = ClientSession(f"{document.name}-{slot}")
            editor = Editor(slot, document, socket, session, session.share(document.name, text))
            document.editors.append(editor)
            await self.sync(editor)
            if typist is not None:
                typists.append((editor, typist))

        firsts = [plan for plan in plans if plan[1] == 0]
        rest = [plan for plan in plans if plan[1] != 0]
        for batch in (firsts, rest):
            for at in range(0, len(batch), JOIN_AT_ONCE):
                await asyncio.gather(*(open_one(p) for p in batch[at:at + JOIN_AT_ONCE]))
        self.documents = documents
        for document in documents:
            for editor in document.editors:
                editor.socket.noticed.clear()
                self.tasks.append(asyncio.create_task(self.keep_synced(editor)))
        return typists

    async def run(self) -> dict[str, Any]:
        typists = await self.join(self.spec["port"])
        print("ready", flush=True)
        start = float(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
        self.syncs = 0
        before = resource.getrusage(resource.RUSAGE_SELF)
        end = start + self.spec["duration"]
        rng = random.Random(self.spec["seed"] + 1)
        await asyncio.gather(*(self.type(editor, typist, start, end, self.spec["rate"],
                                         random.Random(rng.random()))
                               for editor, typist in typists))
        settle_end = time.monotonic() + self.spec["settle"]
        while any(d.waiting for d in self.documents) and time.monotonic() < settle_end:
            await asyncio.sleep(0.05)
        late = sum(len(d.waiting) for d in self.documents)
        latencies = list(self.latencies)
        for editor in (e for d in self.documents for e in d.editors):
            editor.socket.noticed.set()
        await asyncio.sleep(1.0)
        self.syncing = False
        diverged = sum(len({e.shared.text for e in d.editors}) > 1 for d in self.documents)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        for editor in (e for d in self.documents for e in d.editors):
            editor.socket.close()
        for task in self.tasks:
            task.cancel()
        return {"latencies": latencies, "typed": self.typed, "syncs": self.syncs,
                "late": late,
                "errors": self.errors, "diverged": diverged,
                "cpu_s": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime}


def plan(options: argparse.Namespace, port: int) -> list[dict[str, Any]]:
    """Each worker's documents: names, editors and typist numbers, spread evenly."""
    per_document = [options.sockets // options.documents + (d < options.sockets % options.documents)
                    for d in range(options.documents)]
    typists: list[list[int]] = [[] for _ in range(options.documents)]
    for typist in range(options.typists):
        typists[typist % options.documents].append(typist)
    specs = []
    for worker in range(options.workers):
        chosen = range(worker, options.documents, options.workers)
        specs.append({"port": port, "seed": options.seed + worker, "rate": options.rate,
                      "duration": options.duration, "settle": options.settle,
                      "documents": [{"name": f"crowd{d}", "editors": per_document[d],
                                     "typists": typists[d]} for d in chosen]})
    return specs


def run(options: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="mobwrite-crowd-") as workdir:
        daemon = Daemon(Path(workdir), "--max-chars", "0",
                        "--max-connections", str(options.sockets + 100)).start()
        assert daemon.process is not None
        pid = daemon.process.pid
        workers: list[subprocess.Popen[str]] = []
        try:
            before = resident(pid)
            for spec in plan(options, daemon.ports["gateway"]):
                workers.append(subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.crowd", "--worker", json.dumps(spec)],
                    cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
            for worker in workers:
                assert worker.stdout is not None
                if worker.stdout.readline().strip() != "ready":
                    raise RuntimeError("a load generator failed to join")
            joined = resident(pid)
            start = time.monotonic() + 0.5
            cpu_before = process_times(pid)
            for worker in workers:
                assert worker.stdin is not None
                worker.stdin.write(f"{start}\n")
                worker.stdin.flush()
            results = []
            for worker in workers:
                assert worker.stdout is not None
                results.append(json.loads(worker.stdout.readline()))
                if worker.wait(60) != 0:
                    raise RuntimeError("a load generator failed")
            elapsed = time.monotonic() - start
            cpu = process_times(pid) - cpu_before
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
            daemon.stop()
    latencies = [value for result in results for value in result["latencies"]]
    syncs = sum(r["syncs"] for r in results)
    with open("/proc/loadavg") as loadavg:
        load = float(loadavg.read().split()[0])
    return {
        "sockets": options.sockets, "documents": options.documents,
        "typists": options.typists, "rate": options.rate, "duration": options.duration,
        "workers": options.workers,
        "typed": sum(r["typed"] for r in results),
        "delivered": len(latencies), "late": sum(r["late"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "diverged": sum(r["diverged"] for r in results),
        "p50_ms": percentile(latencies, 50) * 1000 if latencies else None,
        "p95_ms": percentile(latencies, 95) * 1000 if latencies else None,
        "p99_ms": percentile(latencies, 99) * 1000 if latencies else None,
        "max_ms": max(latencies) * 1000 if latencies else None,
        "server_cpu": cpu / elapsed,
        "rss_before_mib": before / 2**20, "rss_joined_mib": joined / 2**20,
        "bytes_per_socket_with_view": (joined - before) / options.sockets,
        "syncs": syncs, "server_cpu_ms_per_sync": cpu * 1000 / max(syncs, 1),
        "loadgen_cpu": sum(r["cpu_s"] for r in results) / elapsed,
        "loadgen_cpu_ms_per_sync": sum(r["cpu_s"] for r in results) * 1000 / max(syncs, 1),
        "load_average": load,
    }


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=500, help="sockets (editors) in all")
    parser.add_argument("--documents", type=int, default=1, help="documents they share")
    parser.add_argument("--typists", type=int, default=500, help="sockets that type")
    parser.add_argument("--rate", type=float, default=1.0, help="edits a second per typist")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of typing")
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds allowed after typing for edits still on their way")
    parser.add_argument("--workers", type=int, default=1, help="load generator processes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    if options.worker:
        raise_fd_limit()
        result = asyncio.run(Worker(json.loads(options.worker)).run())
    else:
        result = run(options)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
