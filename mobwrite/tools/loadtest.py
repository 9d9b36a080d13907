"""``mobwrite loadtest``: simulated editors against a server, bounded in count and time.

Editors mode: N clients share a few documents; every ``1/rate`` seconds
each one maybe types or deletes a little and syncs, as a browser would.
Original mode: requests shaped as the original load tester's (PROTOCOL.md
11), ``rate`` per second in all, each naming 20 fresh documents.  Both
measure the round trip of every exchange and count the failures; a tick
whose previous exchange is still out is skipped, so the load stays
bounded when the server falls behind.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from twisted.internet import defer, task

from mobwrite.client import operations
from mobwrite.client.errors import ClientError
from mobwrite.client.session import ClientSession, random_id
from mobwrite.client.txclient import TwistedClient
from mobwrite.tools.loadmodel import percentile, type_into

PROGRESS_INTERVAL = 0.25
BAR_WIDTH = 30


@dataclass
class Tally:
    """What a load test measured."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    skipped: int = 0
    first_error: str = ""

    def record(self, seconds: float) -> None:
        self.latencies.append(seconds)

    def fail(self, error: Exception) -> None:
        self.errors += 1
        self.first_error = self.first_error or str(error)


def summary(tally: Tally, elapsed: float, mode: str) -> dict[str, Any]:
    """The figures printed at the end, as a dict."""
    count = len(tally.latencies)
    figures: dict[str, Any] = {
        "mode": mode,
        "seconds": round(elapsed, 3),
        "syncs": count,
        "syncs_per_second": round(count / elapsed, 2) if elapsed > 0 else 0.0,
        "errors": tally.errors,
        "skipped": tally.skipped,
        "p50_ms": round(1000 * percentile(tally.latencies, 50), 2),
        "p95_ms": round(1000 * percentile(tally.latencies, 95), 2),
        "p99_ms": round(1000 * percentile(tally.latencies, 99), 2),
    }
    if tally.first_error:
        figures["first_error"] = tally.first_error
    return figures


def format_summary(figures: dict[str, Any]) -> str:
    """The summary as ``name: value`` lines, easy to read and to parse."""
    return "".join(f"{name}: {value}\n" for name, value in figures.items())


class Progress:
    """A one-line progress bar redrawn in place on a terminal."""

    def __init__(self, stream: TextIO, duration: float, tally: Tally) -> None:
        self.stream = stream
        self.duration = duration
        self.tally = tally
        self.started = time.monotonic()

    def draw(self) -> None:
        elapsed = time.monotonic() - self.started
        done = min(1.0, elapsed / self.duration)
        bar = "#" * int(done * BAR_WIDTH)
        self.stream.write(f"\r[{bar:<{BAR_WIDTH}}] {elapsed:5.1f}/{self.duration:g} s "
                          f"syncs {len(self.tally.latencies)} errors {self.tally.errors}")
        self.stream.flush()

    def finish(self) -> None:
        self.draw()
        self.stream.write("\n")
        self.stream.flush()


class LoadTest:
    """Runs the ticks of one load test on a reactor."""

    def __init__(self, reactor: Any, client: TwistedClient, rng: random.Random) -> None:
        self.reactor = reactor
        self.client = client
        self.rng = rng
        self.tally = Tally()
        self.pending: set[defer.Deferred[None]] = set()

    def _timed(self, exchange: Callable[[], Awaitable[object]]) -> defer.Deferred[None]:
        async def measure() -> None:
            started = time.perf_counter()
            try:
                await exchange()
            except ClientError as error:
                self.tally.fail(error)
            else:
                self.tally.record(time.perf_counter() - started)

        done = defer.ensureDeferred(measure())
        self.pending.add(done)

        def settled(result: object) -> object:
            self.pending.discard(done)
            return result  # anything but a ClientError is a bug: let it be reported

        done.addBoth(settled)
        return done

    def editor_tick(self, session: ClientSession, busy: dict[str, bool]) -> None:
        if busy["now"]:
            self.tally.skipped += 1
            return
        for document in session.documents.values():
            if self.rng.random() < 0.5:
                document.text = type_into(document.text, self.rng)
        busy["now"] = True
        done = self._timed(lambda: self.client.run(operations.sync(session)))
        done.addBoth(lambda _: busy.update(now=False))

    def original_tick(self, limit: int) -> None:
        if len(self.pending) >= limit:
            self.tally.skipped += 1
            return
        request = operations.original_loadtest_request(self.rng)
        self._timed(lambda: self.client.exchange(request))

    async def run(self, loops: list[task.LoopingCall], interval: float,
                  duration: float, progress: Progress | None) -> float:
        started = time.monotonic()
        for loop in loops:
            # A random phase spreads the editors' syncs over the interval.
            self.reactor.callLater(self.rng.uniform(0, interval), loop.start, interval)
        drawing = task.LoopingCall(progress.draw) if progress else None
        if drawing is not None:
            drawing.clock = self.reactor
            drawing.start(PROGRESS_INTERVAL)
        await task.deferLater(self.reactor, duration, lambda: None)
        for loop in loops:
            if loop.running:
                loop.stop()
        await defer.DeferredList(list(self.pending))
        elapsed = time.monotonic() - started
        if drawing is not None:
            drawing.stop()
        if progress is not None:
            progress.finish()
        return elapsed


async def load_test(reactor: Any, url: str, editors: int, documents: int, rate: float,
                    duration: float, original: bool, timeout: float,
                    progress: bool, keep: bool, seed: int | None) -> dict[str, Any]:
    """Run one bounded load test and return its summary."""
    client = TwistedClient(reactor, url, timeout)
    try:
        return await _load_test(reactor, client, editors, documents, rate, duration,
                                original, progress, keep, seed)
    finally:
        client.close()


async def _load_test(reactor: Any, client: TwistedClient, editors: int, documents: int,
                     rate: float, duration: float, original: bool, progress: bool, keep: bool,
                     seed: int | None) -> dict[str, Any]:
    await client.run(operations.probe())
    rng = random.Random(seed)
    test = LoadTest(reactor, client, rng)
    bar = Progress(sys.stderr, duration, test.tally) if progress else None
    if original:
        interval = 1.0 / rate
        loops = [task.LoopingCall(test.original_tick, editors)]
        loops[0].clock = reactor
        elapsed = await test.run(loops, interval, duration, bar)
        return summary(test.tally, elapsed, "original")
    run_id = random_id()
    names = [f"loadtest_{run_id}_{i}" for i in range(documents)]
    loops = []
    for index in range(editors):
        session = ClientSession()
        session.share(names[index % documents])
        loop = task.LoopingCall(test.editor_tick, session, {"now": False})
        loop.clock = reactor
        loops.append(loop)
    elapsed = await test.run(loops, 1.0 / rate, duration, bar)
    if not keep:
        await client.nullify(*names)
    return summary(test.tally, elapsed, "editors")


def print_summary(figures: dict[str, Any], as_json: bool) -> None:
    sys.stdout.write(json.dumps(figures) + "\n" if as_json else format_summary(figures))
    sys.stdout.flush()
