"""Many socket editors at once: propagation to the last other editor, and memory per socket.

Run as ``python -m benchmarks.crowd``; it starts a fresh daemon, makes
``--documents`` documents over TCP, opens ``--sockets`` WebSockets spread
evenly over them (in ``--workers`` load generator processes, each holding
whole documents when there are at least as many documents as processes,
else a share of each document's sockets), lets every socket join its
document, then has ``--typists`` of them (spread over the documents in
turn) type at ``--rate`` edits a second for ``--duration`` seconds.  Every
socket syncs when it types and when a notice arrives, with at most one
request in flight (a notice or an edit during a sync starts one more sync
after it), as the browser client does.  With ``--deltas`` every socket asks
for pushed deltas instead of notices (coarse ones, ``!push:coarse``, unless
``--exact``), applies each (unless its sync is in flight) and acknowledges
it with ``!pushed:``.

Each typist owns a counter in the text, ``[T:N]`` (N zero-padded to a fixed
width), packed one after another or, with ``--apart``, each followed by
prose (packed counters give a patch only neighbours' changing digits as
context: BENCHMARKS.md, "500 editors, again"); an edit raises it by one (so edits never clash, and the document
stays its starting prose plus one counter per typist).  An edit is *delivered* when every other socket of its
document holds a counter at least as high; its propagation time runs from
the moment of typing (before waiting for any sync in flight) to that of the
last holder (each process notes, per edit, how many of its sockets hold it
and when the last came to; the driver adds them up, on the machine's one
monotonic clock).  After typing stops the sockets get ``--settle`` seconds
to receive what is still on its way; edits not delivered by then are
counted as *late*.  Once every process's sockets hold every edit (or the
settle time is over), every socket syncs once more, and each document's
sockets must hold the same text (else the document counts as *diverged*).

One JSON object is printed: propagation percentiles, edits typed,
delivered and late, how often a typist found its counter not as it left
it (*displaced*: another edit merged into it, or its own into another; it
types on from its own count), the first late edits (typist, count) and the
typists whose counter in the end's text is not their last edit's (with
what it holds), documents whose sockets differ, the daemon's CPU and
resident memory (before the sockets, with them open and synced, and per
socket), and the load generators' CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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

import numpy

from benchmarks.daemon import ROOT, Daemon
from benchmarks.loadgen import process_times, tcp_exchange
from benchmarks.pushbench import AsyncSocket, resident
from mobwrite.client.session import ClientSession, SharedText
from mobwrite.core.escaping import encode_text
from mobwrite.core.push import PUSH_COARSE, PUSH_DELTAS, delta_blocks, pushed_message
from mobwrite.tools.loadmodel import make_text, percentile

COUNTER = re.compile(r"\[(\d+:\d+)\]")
# Distinct texts whose counters a document keeps, read once for all its sockets.
READINGS_KEPT = 64
JOIN_AT_ONCE = 200


def counter_width(duration: float, rate: float) -> int:
    """The digits of every counter: as many as its highest value needs, so that
    no edit changes the text's length (fuzzy patching places a change by its
    context near where it was, and a text that grows by a digit in hundreds
    of counters at once moves them too far for that)."""
    return len(str(int(duration * rate) + 2))


def counter(typist: int, count: int, width: int) -> str:
    return f"[{typist}:{count:0{width}d}]"


def raise_fd_limit() -> None:
    """Let this process (and the daemon it starts) hold as many sockets as allowed."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Editor:
    """One socket editing one document, and the counters it has seen."""

    typist: int | None
    document: Document
    socket: AsyncSocket
    session: ClientSession
    shared: SharedText
    in_flight: bool = False
    # The highest counter seen of each of the document's typists, by their
    # place in Document.typists (filled in by the document).
    seen: Any = None
    # The text as last read: the same text needs no second reading.
    read: str = ""
    # Pushes applied since the last request or acknowledgement.
    unacknowledged: int = 0


@dataclass
class Document:
    """A document's editors in this process, and per edit of each of its typists
    (row: the typist's place in *typists*, column: the counter's value) how
    many of them hold it and when the last came to."""

    name: str
    typists: list[int]
    edits: int
    editors: list[Editor] = field(default_factory=list)
    holders: Any = None
    last_held: Any = None
    # Each typist's place in *typists*, by typist (-1: not of this document).
    place: Any = None
    # The counters of texts read lately (many sockets hold the same text).
    readings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.holders = numpy.zeros((len(self.typists), self.edits + 1), numpy.int64)
        self.last_held = numpy.zeros((len(self.typists), self.edits + 1))
        self.place = numpy.full(max(self.typists, default=0) + 1, -1, numpy.int64)
        self.place[self.typists] = numpy.arange(len(self.typists))

    def counters(self, text: str) -> Any:
        """The highest counter of each typist in *text* (0 where there is none)."""
        found = self.readings.get(text)
        if found is not None:
            return found
        if len(self.readings) > READINGS_KEPT:
            self.readings.clear()
        found = numpy.zeros(len(self.typists), numpy.int64)
        # The numbers parsed in C: "T N T N ..." (each counter's T:N as found).
        pairs = numpy.fromstring(" ".join(COUNTER.findall(text)).replace(":", " "),
                                 numpy.int64, sep=" ").reshape(-1, 2)
        pairs = pairs[pairs[:, 0] < len(self.place)]
        places = self.place[pairs[:, 0]]
        mine = places >= 0
        numpy.maximum.at(found, places[mine], numpy.minimum(pairs[mine, 1], self.edits))
        self.readings[text] = found
        return found


class Worker:
    """Some editors, in one process: for each edit (typist, counter), this process
    records when it was typed (if here) and how many of its other sockets hold
    it, and when the last of them came to (the driver adds up the processes)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.typed_at: dict[tuple[int, int], float] = {}
        self.typed = 0
        self.syncs = 0
        self.pushes = 0
        self.errors = 0
        # Times a typist found its counter not as it left it.
        self.displaced = 0
        self.syncing = True
        self.tasks: list[asyncio.Task[None]] = []
        self.documents: list[Document] = []

    def observe(self, editor: Editor) -> None:
        """Count the counters *editor* now holds beyond those it had seen."""
        text = editor.shared.text
        document = editor.document
        if text is editor.read or not document.typists:
            return
        editor.read = text
        now = time.monotonic()
        seen = editor.seen
        counters = document.counters(text)
        gained = counters > seen
        if editor.typist is not None:
            # Its own counter is counted when typed.
            gained[document.place[editor.typist]] = False
        rows = numpy.flatnonzero(gained)
        if not len(rows):
            return
        before, after = seen[rows], counters[rows]
        seen[rows] = after
        steps = after - before
        for step in range(1, int(steps.max()) + 1):
            some = steps >= step
            document.holders[rows[some], before[some] + step] += 1
            document.last_held[rows[some], before[some] + step] = now

    async def sync(self, editor: Editor) -> None:
        editor.in_flight = True
        try:
            answer = await asyncio.wait_for(
                editor.socket.exchange(editor.session.build_request()), 30)
            editor.session.apply_response(answer)
            self.syncs += 1
            editor.unacknowledged = 0
            self.acknowledge(editor, editor.session.take_pushed())
        except Exception:  # noqa: BLE001 - a benchmark counts failures, it does not stop
            self.errors += 1
            return
        finally:
            editor.in_flight = False
        self.observe(editor)

    def pushed(self, editor: Editor, message: str) -> None:
        """Apply a pushed delta (unless a sync is in flight) and acknowledge it."""
        blocks = delta_blocks(message)
        assert blocks is not None
        held = editor.session.apply_push(blocks, editor.in_flight)
        if held:
            self.acknowledge(editor, held)
            self.observe(editor)

    def acknowledge(self, editor: Editor, held: list[tuple[str, int]]) -> None:
        """Count a push applied; acknowledge every second one (the daemon keeps
        four unacknowledged pushes per view, so one frame in two is spared)."""
        if held:
            self.pushes += 1
            editor.unacknowledged += 1
            if editor.unacknowledged >= 2:
                editor.unacknowledged = 0
                editor.socket.send(pushed_message(held))

    async def keep_synced(self, editor: Editor) -> None:
        """Sync whenever a notice arrives or the editor typed (one sync at a time)."""
        while self.syncing:
            await editor.socket.noticed.wait()
            editor.socket.noticed.clear()
            await self.sync(editor)

    async def type(self, editor: Editor, typist: int, start: float, end: float,
                   rate: float, rng: random.Random) -> int:
        """Raise this typist's counter *rate* times a second on schedule; the count."""
        moment = start + rng.uniform(0, 1 / rate)
        count = 0
        width = counter_width(end - start, rate)
        while moment < end:
            await asyncio.sleep(max(0.0, moment - time.monotonic()))
            text = editor.shared.text
            old = counter(typist, count, width)
            if old not in text:
                # Another edit was merged into this counter, or this one's last
                # edit into another (BENCHMARKS.md, "500 editors, again"): count
                # it and type on from our own count, as a person would.
                self.displaced += 1
                found = re.search(rf"\[{typist}:\d+\]", text)
                if found is None:
                    return count
                old = found.group()
            count += 1
            editor.shared.text = text.replace(old, counter(typist, count, width))
            editor.seen[editor.document.place[typist]] = count
            self.typed_at[(typist, count)] = time.monotonic()
            self.typed += 1
            editor.socket.noticed.set()
            moment += 1 / rate
        return count

    async def join(self, port: int) -> None:
        """Open every socket and sync it once (the driver made the documents)."""
        deltas = self.spec["deltas"]

        async def open_one(document: Document, typist: int | None, user: str) -> None:
            socket = AsyncSocket()
            await socket.open(port)
            session = ClientSession(user)
            editor = Editor(typist, document, socket, session, session.share(document.name),
                            seen=numpy.zeros(len(document.typists), numpy.int64))
            if deltas:
                socket.on_push = lambda message: self.pushed(editor, message)
                socket.send(PUSH_DELTAS if self.spec["exact"] else PUSH_COARSE)
            document.editors.append(editor)
            await self.sync(editor)

        plans: list[tuple[Document, int | None, str]] = []
        for entry in self.spec["documents"]:
            document = Document(entry["name"], self.spec["typists_of"][entry["name"]],
                                # The highest counter a typist can reach.
                                int(self.spec["duration"] * self.spec["rate"]) + 2)
            self.documents.append(document)
            plans.extend((document, typist, f"{entry['name']}-{slot}")
                         for slot, typist in entry["slots"])
        for at in range(0, len(plans), JOIN_AT_ONCE):
            await asyncio.gather(*(open_one(*plan) for plan in plans[at:at + JOIN_AT_ONCE]))
        for editor in (e for d in self.documents for e in d.editors):
            editor.socket.noticed.clear()
            self.tasks.append(asyncio.create_task(self.keep_synced(editor)))

    def holds_all(self, totals: dict[int, int]) -> bool:
        for document in self.documents:
            wanted = numpy.array([totals.get(t, 0) for t in document.typists], numpy.int64)
            if not all((editor.seen >= wanted).all() for editor in document.editors):
                return False
        return True

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        await self.join(self.spec["port"])
        # What joining made (thousands of sockets and sessions) lives to the
        # end: keep it out of the collections that walk every object.
        gc.freeze()
        print("ready", flush=True)
        start = float(await loop.run_in_executor(None, sys.stdin.readline))
        self.syncs = 0
        before = resource.getrusage(resource.RUSAGE_SELF)
        end = start + self.spec["duration"]
        rng = random.Random(self.spec["seed"] + 1)
        typists = [(e, e.typist) for d in self.documents for e in d.editors
                   if e.typist is not None]
        counts = await asyncio.gather(*(self.type(editor, typist, start, end,
                                                  self.spec["rate"], random.Random(rng.random()))
                                        for editor, typist in typists))
        print(json.dumps({str(t): c for (_, t), c in zip(typists, counts, strict=True)}),
              flush=True)
        totals = {int(t): c for t, c in json.loads(
            await loop.run_in_executor(None, sys.stdin.readline)).items()}
        settle_end = time.monotonic() + self.spec["settle"]
        while not self.holds_all(totals) and time.monotonic() < settle_end:
            await asyncio.sleep(0.05)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        # The last sync of every socket waits until every process's sockets hold
        # every edit (or their settle time is over): ten thousand syncs at once
        # would delay the last edits still on their way to another process.
        print("held", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        for editor in (e for d in self.documents for e in d.editors):
            editor.socket.noticed.set()
        await asyncio.sleep(1.0)
        self.syncing = False
        texts = {d.name: sorted({e.shared.text for e in d.editors}) for d in self.documents}
        for editor in (e for d in self.documents for e in d.editors):
            editor.socket.close()
        for task in self.tasks:
            task.cancel()
        return {"typed_at": [[*key, at] for key, at in self.typed_at.items()],
                "held": [[document.typists[row], int(edit), int(document.holders[row, edit]),
                          float(document.last_held[row, edit])]
                         for document in self.documents
                         for row, edit in zip(*numpy.nonzero(document.holders), strict=True)],
                "typed": self.typed, "syncs": self.syncs, "pushes": self.pushes,
                "errors": self.errors, "displaced": self.displaced, "texts": texts,
                "cpu_s": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime}


def plan(options: argparse.Namespace, port: int) -> list[dict[str, Any]]:
    """Each worker's editors: whole documents per worker when there are enough
    documents, else each document's editors dealt out over the workers."""
    per_document = [options.sockets // options.documents + (d < options.sockets % options.documents)
                    for d in range(options.documents)]
    typists: list[list[int]] = [[] for _ in range(options.documents)]
    for typist in range(options.typists):
        typists[typist % options.documents].append(typist)
    specs: list[dict[str, Any]] = [
        {"port": port, "seed": options.seed + worker, "rate": options.rate,
         "duration": options.duration, "settle": options.settle, "deltas": options.deltas,
         "exact": options.exact,
         "documents": [], "typists_of": {}} for worker in range(options.workers)]
    whole = options.documents >= options.workers
    for d in range(options.documents):
        name = f"crowd{d}"
        slots: list[list[tuple[int, int | None]]] = [[] for _ in specs]
        for slot in range(per_document[d]):
            typing = typists[d][slot] if slot < len(typists[d]) else None
            slots[d % options.workers if whole else slot % options.workers].append(
                (slot, typing))
        for spec, mine in zip(specs, slots, strict=True):
            if mine:
                spec["documents"].append({"name": name, "slots": mine})
                spec["typists_of"][name] = typists[d]
    return specs


def apart(size: int, rng: random.Random) -> str:
    """About *size* characters of prose on one line to follow a counter (none for 0)."""
    return " " + " ".join(make_text(size, rng).split()) if size else ""


def create_documents(port: int, options: argparse.Namespace) -> dict[str, int]:
    """Make every document (1 KB of prose and its typists' counters) over TCP;
    each document's number of editors."""
    rng = random.Random(options.seed)
    prose = make_text(1024, rng)
    typists: list[list[int]] = [[] for _ in range(options.documents)]
    for typist in range(options.typists):
        typists[typist % options.documents].append(typist)
    for at in range(0, options.documents, 50):
        lines = ["u:crowd-maker"]
        for d in range(at, min(at + 50, options.documents)):
            width = counter_width(options.duration, options.rate)
            counters = "".join(" " + counter(t, 0, width) + apart(options.apart, rng)
                               for t in typists[d])
            lines += [f"F:0:crowd{d}", f"R:1:{encode_text(prose + counters)}"]
        asyncio.run(tcp_exchange(port, ("\n".join(lines) + "\n\n").encode("utf-8")))
    return {f"crowd{d}": len(typists[d]) for d in range(options.documents)}


def merge(results: list[dict[str, Any]], editors: dict[str, int],
          typists_of: dict[int, str]
          ) -> tuple[list[tuple[float, float]], list[list[int]], list[list[str]]]:
    """The edits every other editor held, each as (when typed, propagation time),
    the edits late (typist, count), and the texts of each document whose
    editors differ."""
    typed_at = {(t, n): at for r in results for t, n, at in r["typed_at"]}
    held: dict[tuple[int, int], list[float]] = {}
    for result in results:
        for t, n, holders, last in result["held"]:
            entry = held.setdefault((t, n), [0, 0.0])
            entry[0] += holders
            entry[1] = max(entry[1], last)
    latencies = []
    late = []
    for key, at in typed_at.items():
        holding = held.get(key)
        if holding is not None and holding[0] >= editors[typists_of[key[0]]] - 1:
            latencies.append((at, holding[1] - at))
        else:
            late.append(list(key))
    texts: dict[str, set[str]] = {}
    for result in results:
        for name, seen in result["texts"].items():
            texts.setdefault(name, set()).update(seen)
    diverged = [sorted(seen) for seen in texts.values() if len(seen) > 1]
    return latencies, sorted(late), diverged


def counters_off(results: list[dict[str, Any]], totals: dict[str, int],
                 typists_of: dict[int, str]) -> dict[str, int | None]:
    """The typists whose counter in the end's text (one socket's, per document) is
    not their last edit's, by typist, with what the text holds (None: nothing)."""
    final = {name: seen[0] for r in results for name, seen in r["texts"].items() if seen}
    off: dict[str, int | None] = {}
    for typist, count in totals.items():
        found = re.search(rf"\[{typist}:(\d+)\]", final.get(typists_of[int(typist)], ""))
        held = None if found is None else int(found.group(1))
        if held != count:
            off[typist] = held
    return off


def run(options: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="mobwrite-crowd-") as workdir:
        daemon = Daemon(Path(workdir), "--max-chars", "0", "--durability", options.durability,
                        "--max-connections", str(options.sockets + 100),
                        # The sockets' views and the one that made each document.
                        "--max-views", str(options.sockets + options.documents + 100)).start()
        assert daemon.process is not None
        pid = daemon.process.pid
        workers: list[subprocess.Popen[str]] = []
        try:
            before = resident(pid)
            create_documents(daemon.ports["tcp"], options)
            specs = plan(options, daemon.ports["gateway"])
            for spec in specs:
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
            tell(workers, f"{start}")
            totals: dict[str, int] = {}
            for worker in workers:
                assert worker.stdout is not None
                totals.update(json.loads(worker.stdout.readline()))
            elapsed = time.monotonic() - start
            cpu = process_times(pid) - cpu_before
            tell(workers, json.dumps(totals))
            for worker in workers:
                assert worker.stdout is not None
                if worker.stdout.readline().strip() != "held":
                    raise RuntimeError("a load generator failed to settle")
            tell(workers, "sync")
            results = []
            for worker in workers:
                assert worker.stdout is not None
                results.append(json.loads(worker.stdout.readline()))
                if worker.wait(60) != 0:
                    raise RuntimeError("a load generator failed")
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
            daemon.stop()
    per_document = [options.sockets // options.documents + (d < options.sockets % options.documents)
                    for d in range(options.documents)]
    editors = {f"crowd{d}": n for d, n in enumerate(per_document)}
    typists_of = {t: f"crowd{t % options.documents}" for t in range(options.typists)}
    delivered, late, diverged = merge(results, editors, typists_of)
    latencies = [latency for _, latency in delivered]
    off = counters_off(results, totals, typists_of)
    syncs = sum(r["syncs"] for r in results)
    pushes = sum(r["pushes"] for r in results)
    with open("/proc/loadavg") as loadavg:
        load = float(loadavg.read().split()[0])
    return {
        "sockets": options.sockets, "documents": options.documents,
        "typists": options.typists, "rate": options.rate, "duration": options.duration,
        "workers": options.workers, "deltas": options.deltas, "exact": options.exact,
        "durability": options.durability, "apart": options.apart,
        "typed": sum(r["typed"] for r in results),
        "delivered": len(latencies), "late": len(late),
        # Which edits were late, and the counters the end's text holds wrong.
        "late_edits": late[:20], "counters_off": dict(list(off.items())[:20]),
        "errors": sum(r["errors"] for r in results),
        "displaced": sum(r["displaced"] for r in results),
        "diverged": len(diverged),
        # One document's differing texts, their common start cut off.
        "diverged_example": [text[len(common_start(diverged[0])):][:300]
                             for text in diverged[0]] if diverged else None,
        "p50_ms": percentile(latencies, 50) * 1000 if latencies else None,
        "p95_ms": percentile(latencies, 95) * 1000 if latencies else None,
        "p99_ms": percentile(latencies, 99) * 1000 if latencies else None,
        "max_ms": max(latencies) * 1000 if latencies else None,
        # The slowest 1% of edits: seconds into the typing when typed, milliseconds.
        "slowest": [[round(at - start, 3), round(latency * 1000, 1)] for at, latency in
                    sorted(delivered, key=lambda edit: -edit[1])[:max(1, len(delivered) // 100)]],
        "server_cpu": cpu / elapsed,
        "rss_before_mib": before / 2**20, "rss_joined_mib": joined / 2**20,
        "bytes_per_socket_with_view": (joined - before) / options.sockets,
        "syncs": syncs, "pushes_applied": pushes,
        "server_cpu_ms_per_sync": cpu * 1000 / max(syncs, 1),
        # Syncs and pushes applied together: what the daemon spends per message.
        "server_cpu_ms_per_sync_or_push": cpu * 1000 / max(syncs + pushes, 1),
        "loadgen_cpu_ms_per_sync_or_push":
            sum(r["cpu_s"] for r in results) * 1000 / max(syncs + pushes, 1),
        "loadgen_cpu": sum(r["cpu_s"] for r in results) / elapsed,
        "loadgen_cpu_ms_per_sync": sum(r["cpu_s"] for r in results) * 1000 / max(syncs, 1),
        "load_average": load,
        # The machine's monotonic clock when typing started, to line up other logs.
        "clock_at_start": start,
    }


def common_start(texts: list[str]) -> str:
    first, last = min(texts), max(texts)
    at = 0
    while at < len(first) and first[at] == last[at]:
        at += 1
    return first[:at]


def tell(workers: list[subprocess.Popen[str]], line: str) -> None:
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(line + "\n")
        worker.stdin.flush()


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
    parser.add_argument("--deltas", action="store_true",
                        help="sockets ask for pushed deltas instead of notices")
    parser.add_argument("--exact", action="store_true",
                        help="with --deltas, ask for exact deltas only (!push:deltas), "
                             "as clients did before coarse ones")
    parser.add_argument("--durability", default="sync",
                        help="the daemon's --durability (sync: fdatasync per group commit)")
    parser.add_argument("--apart", type=int, default=0,
                        help="characters of prose after each counter (0: counters packed)")
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
