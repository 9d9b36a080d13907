"""The load generator: simulated editors typing into shared documents.

Runs in its own process (``python -m benchmarks.loadgen ...``) and prints
one JSON object with what it measured.  Each editor is a real
``ClientSession`` holding a correct client state; it types a few characters
(or deletes a few, or adds an emoji) at a random place in its copy (the
typing model of ``mobwrite.tools.loadmodel``, shared with ``mobwrite
loadtest``), then syncs, either on a fixed schedule (``--rate`` syncs per second, latency
counted from the scheduled time so a slow server cannot hide its queue) or
back to back (``--rate 0``, for throughput).  Several editors share each
document, so the server really merges.

Phases: join (every editor's first sync; not measured), measure (for
``--duration`` seconds), settle (a few rounds without typing, after which
every editor of a document must hold the same text).  Server CPU and peak
RSS come from ``/proc/PID`` of the server process.

Against the baseline server (``--baseline``), the replies carry nothing to
apply, so each editor takes its request as acknowledged and keeps typing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import quote_from_bytes

from mobwrite.client.session import ClientSession
from mobwrite.tools.loadmodel import make_text, percentile, type_into

# The document sizes of the grid, by the names the reports use.
SIZES = {"1K": 1024, "100K": 100 * 1024, "1M": 1024 * 1024}
REQUEST_TIMEOUT = 30.0
JOIN_CONCURRENCY = 32
SETTLE_ROUNDS = 3


class GatewayMissing(RuntimeError):
    """The HTTP port does not serve the gateway (it answered 404)."""


async def tcp_exchange(port: int, data: bytes) -> bytes:
    """One request on its own connection; the reply ends when the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        return await reader.read()
    finally:
        writer.close()


class HttpConnection:
    """A kept-alive HTTP/1.1 connection that POSTs ``q=`` requests (docs/protocol.md §2.3)."""

    def __init__(self, port: int, path: str) -> None:
        self.port = port
        self.path = path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, data: bytes) -> bytes:
        body = b"q=" + quote_from_bytes(data, safe="").encode("ascii")
        head = (f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode("ascii")
        for attempt in (1, 2):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            assert self.reader is not None
            try:
                self.writer.write(head + body)
                return await self._response(self.reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                # The server may close a kept-alive connection between requests.
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _response(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            body = await self._chunks(reader)
        else:
            body = await reader.read()
            self.close()
        if headers.get("connection") == "close":
            self.close()
        if status == 404:
            raise GatewayMissing(
                f"the HTTP port {self.port} answered 404 for POST {self.path}: "
                "this daemon has no HTTP gateway yet")
        if status != 200:
            raise ConnectionError(f"HTTP status {status}")
        if not body.endswith(b"\n"):
            raise ConnectionError("a q= reply must end with LF")
        return body[:-1]

    @staticmethod
    async def _chunks(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Editor:
    """One simulated user typing into one document."""

    session: ClientSession
    document: str
    rng: random.Random
    length: int
    http: HttpConnection | None = None

    @property
    def text(self) -> str:
        return self.session.documents[self.document].text


@dataclass
class Tally:
    """What the measure phase saw."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    resyncs: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


class Load:
    """Editors, their transport, and the three phases."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        rng = random.Random(options.seed)
        self.editors: list[Editor] = []
        texts = [make_text(options.size, rng) for _ in range(options.documents)]
        for index in range(options.editors):
            number = index % options.documents
            session = ClientSession(f"e{options.seed}x{index}")
            name = f"{options.prefix}doc{number}"
            seeds = index < options.documents or options.baseline
            shared = session.share(name, texts[number] if seeds else "")
            if options.baseline:
                # Nothing to join on a server that keeps no state.
                shared.shadow, shared.delta_ok = shared.text, True
            http = HttpConnection(options.port, options.path) if options.transport == "http" else None
            self.editors.append(Editor(
                session, name, random.Random(rng.random()), len(texts[number]), http))
        self.tally = Tally()

    async def exchange(self, editor: Editor, data: bytes) -> bytes:
        if editor.http is not None:
            return await editor.http.exchange(data)
        return await tcp_exchange(self.options.port, data)

    async def sync(self, editor: Editor, measured: bool) -> None:
        """One sync; failures are counted, never raised (GatewayMissing is)."""
        data = editor.session.build_request()
        try:
            reply = await asyncio.wait_for(self.exchange(editor, data), REQUEST_TIMEOUT)
        except GatewayMissing:
            raise
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as error:
            if measured:
                self.tally.error(type(error).__name__)
            if editor.http is not None:
                editor.http.close()
            return
        if self.options.baseline:
            editor.session.documents[editor.document].edit_stack.clear()
            return
        if not reply:
            if measured:
                self.tally.error("empty reply")
            return
        if measured and (b"\nR:" in reply or b"\nr:" in reply):
            self.tally.resyncs += 1
        editor.session.apply_response(reply)

    async def join(self) -> None:
        """Every editor's first sync, seeding editors first, a few at a time."""
        gate = asyncio.Semaphore(JOIN_CONCURRENCY)

        async def one(editor: Editor) -> None:
            async with gate:
                await self.sync(editor, measured=False)

        documents = self.options.documents
        if not self.options.baseline:
            await asyncio.gather(*(one(e) for e in self.editors[:documents]))
            await asyncio.gather(*(one(e) for e in self.editors[documents:]))

    async def measure(self) -> float:
        """Type and sync until the duration is over; return the elapsed time."""
        options = self.options
        start = time.monotonic()
        end = start + options.duration

        async def paced(editor: Editor) -> None:
            interval = 1.0 / options.rate
            due = start + editor.rng.random() * interval
            while due < end:
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.type(editor)
                await self.sync(editor, measured=True)
                self.tally.latencies.append(time.monotonic() - due)
                due += interval

        async def closed(editor: Editor) -> None:
            while time.monotonic() < end:
                began = time.monotonic()
                self.type(editor)
                await self.sync(editor, measured=True)
                self.tally.latencies.append(time.monotonic() - began)

        loop = paced if options.rate > 0 else closed
        await asyncio.gather(*(loop(editor) for editor in self.editors))
        return time.monotonic() - start

    def type(self, editor: Editor) -> None:
        document = editor.session.documents[editor.document]
        document.text = type_into(document.text, editor.rng, editor.length)

    async def settle(self) -> int:
        """Sync without typing until quiet; return how many documents diverged."""
        if self.options.baseline:
            return 0
        gate = asyncio.Semaphore(JOIN_CONCURRENCY)

        async def one(editor: Editor) -> None:
            async with gate:
                await self.sync(editor, measured=False)

        for _ in range(SETTLE_ROUNDS):
            for editor in self.editors:  # in order, so each round carries every edit on
                await one(editor)
        texts: dict[str, set[str]] = {}
        for editor in self.editors:
            texts.setdefault(editor.document, set()).add(editor.text)
        return sum(1 for seen in texts.values() if len(seen) > 1)

    def close(self) -> None:
        for editor in self.editors:
            if editor.http is not None:
                editor.http.close()


def process_times(pid: int) -> float:
    """CPU seconds (user + system) used so far by process *pid*."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss(pid: int) -> int:
    """Peak resident memory of process *pid* in bytes (VmHWM)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


async def run(options: argparse.Namespace) -> dict[str, object]:
    load = Load(options)
    try:
        join_start = time.monotonic()
        await load.join()
        joined = time.monotonic() - join_start
        cpu_before = process_times(options.server_pid)
        own_before = time.process_time()
        elapsed = await load.measure()
        cpu = process_times(options.server_pid) - cpu_before
        own = time.process_time() - own_before
        diverged = await load.settle()
    finally:
        load.close()
    latencies = load.tally.latencies
    return {
        "syncs": len(latencies),
        "syncs_per_s": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "errors": load.tally.errors,
        "error_kinds": load.tally.error_kinds,
        "resyncs": load.tally.resyncs,
        "diverged": diverged,
        "server_cpu": cpu / elapsed,
        "server_cpu_ms_per_sync": cpu * 1000 / len(latencies) if latencies else 0.0,
        "loadgen_cpu": own / elapsed,
        "peak_rss": peak_rss(options.server_pid),
        "join_s": joined,
        "load_average": os.getloadavg()[0],
    }


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True,
                        help="the server's TCP or HTTP gateway port on 127.0.0.1")
    parser.add_argument("--server-pid", type=int, required=True,
                        help="the server's process id, for its CPU time and peak RSS")
    parser.add_argument("--transport", choices=("tcp", "http"), default="tcp",
                        help="raw TCP (one connection per sync) or HTTP POST q= (default tcp)")
    parser.add_argument("--path", default="/", help="URL path of the HTTP gateway")
    parser.add_argument("--editors", type=int, default=10, help="simulated editors (default 10)")
    parser.add_argument("--documents", type=int, default=1,
                        help="documents, shared round-robin by the editors (default 1)")
    parser.add_argument("--size", type=int, default=1024, help="document size in bytes")
    parser.add_argument("--rate", type=float, default=1.0,
                        help="syncs per second per editor; 0 = back to back")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of the texts and the typing (default 1)")
    parser.add_argument("--prefix", default="", help="prefix of the document names")
    parser.add_argument("--baseline", action="store_true",
                        help="the server is the baseline: treat every reply as an acknowledgement")
    options = parser.parse_args(argv)
    if options.documents > options.editors:
        parser.error("--documents must not exceed --editors")
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    try:
        result = asyncio.run(run(options))
    except GatewayMissing as error:
        print(f"loadgen: {error}", file=sys.stderr)
        return 3
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
