"""The WebSocket benchmarks: propagation between editors, and syncs/s over sockets vs TCP.

Run as ``python -m benchmarks.pushbench``; it starts a fresh daemon (and the
bare echo server, ``benchmarks/wsecho.py``) on loopback and prints one JSON
object:

* ``propagation``: one editor types (a marked edit after a random pause),
  syncing over its socket; the other holds the text, syncing when the
  daemon's notice arrives.  Latency is from just before the typist's sync to
  the moment the other editor's text holds the mark.
* ``throughput``: editors typing back to back into one 1 KB document, the
  same typing over persistent sockets and over TCP (a connection per sync,
  as the protocol has it); syncs/s, latency and the daemon's CPU per sync.
* ``echo``: the same number of clients sending 1 KB-ish messages back to
  back to a bare Twisted WebSocket echo server: messages/s and CPU per
  message, the floor under any work a sync does.
* ``idle`` (with ``--idle N``): the daemon's resident memory per open
  socket that has synced a 1 KB document once (its view included), and
  per view made over TCP alone; the difference is what a socket costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage

from benchmarks.daemon import ROOT, Daemon
from benchmarks.loadgen import process_times, tcp_exchange
from benchmarks.servers import Mobwrite
from mobwrite.client.session import ClientSession
from mobwrite.core.presence import PRESENCE, PRESENCE_ID
from mobwrite.core.push import DELTA, notice_names
from mobwrite.tools.loadmodel import make_text, percentile, type_into


class AsyncSocket:
    """A WebSocket client on asyncio streams and wsproto: answers in order, notices apart,
    presence updates counted."""

    def __init__(self) -> None:
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.answers: deque[asyncio.Future[bytes]] = deque()
        self.noticed = asyncio.Event()
        self.partial: list[str] = []
        self.presence_updates = 0
        self.accepted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Given pushed deltas (``!delta:`` messages) when set; else they are not expected.
        self.on_push: Callable[[str], None] | None = None

    async def open(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(self.ws.send(Request(host=f"127.0.0.1:{port}", target="/ws")))
        self.task = asyncio.create_task(self._read())
        await self.accepted

    async def _read(self) -> None:
        while data := await self.reader.read(65536):
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    self.accepted.set_result(None)
                elif isinstance(event, TextMessage):
                    self.partial.append(event.data)
                    if event.message_finished:
                        self._message("".join(self.partial))
                        self.partial.clear()
                elif isinstance(event, Ping):
                    self.writer.write(self.ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    return

    def _message(self, message: str) -> None:
        if message.startswith(PRESENCE):
            self.presence_updates += 1
        elif self.on_push is not None and message.startswith(DELTA):
            self.on_push(message)
        elif message.startswith(PRESENCE_ID):
            pass  # our own id in the updates: nothing to count
        elif notice_names(message) is not None:
            self.noticed.set()
        else:
            self.answers.popleft().set_result(message.encode("utf-8"))

    def send(self, message: str) -> None:
        """Send a message that gets no answer (``!push:deltas``, ``!pushed:``)."""
        self.writer.write(self.ws.send(TextMessage(message)))

    async def exchange(self, data: bytes) -> bytes:
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.answers.append(answer)
        self.writer.write(self.ws.send(TextMessage(data.decode("utf-8"))))
        return await answer

    def close(self) -> None:
        self.task.cancel()
        self.writer.close()


async def propagation(port: int, edits: int, pause: tuple[float, float],
                      seed: int) -> dict[str, float]:
    """One typist, one holder, *edits* marked edits: typing-to-holding latency."""
    rng = random.Random(seed)
    typist, holder = AsyncSocket(), AsyncSocket()
    await typist.open(port)
    await holder.open(port)
    writer, reader = ClientSession("typist"), ClientSession("holder")
    written = writer.share("propagation", make_text(1024, rng))
    held = reader.share("propagation")
    writer.apply_response(await typist.exchange(writer.build_request()))
    reader.apply_response(await holder.exchange(reader.build_request()))
    typed_at: dict[str, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()

    async def hold() -> None:
        while not done.is_set():
            await holder.noticed.wait()
            holder.noticed.clear()
            reader.apply_response(await holder.exchange(reader.build_request()))
            now = time.monotonic()
            for mark in [mark for mark in typed_at if mark in held.text]:
                latencies.append(now - typed_at.pop(mark))
            if len(latencies) == edits:
                done.set()

    holding = asyncio.create_task(hold())
    for number in range(edits):
        await asyncio.sleep(rng.uniform(*pause))
        text = written.text
        at = rng.randint(0, len(text))
        mark = f"<{number}>"
        written.text = text[:at] + mark + text[at:]
        typed_at[mark] = time.monotonic()
        writer.apply_response(await typist.exchange(writer.build_request()))
    await asyncio.wait_for(done.wait(), 30)
    holding.cancel()
    typist.close()
    holder.close()
    return {"edits": len(latencies), "p50_ms": percentile(latencies, 50) * 1000,
            "p95_ms": percentile(latencies, 95) * 1000,
            "max_ms": max(latencies) * 1000}


async def closed_loop(editors: int, duration: float, pid: int, seed: int,
                      connect: Callable[[int], Awaitable[Callable[[bytes], Awaitable[bytes]]]],
                      document: str, echo: bool = False) -> dict[str, float]:
    """*editors* typing back to back into one 1 KB document for *duration* seconds."""
    rng = random.Random(seed)
    text = make_text(1024, rng)
    sessions = [ClientSession(f"{document}-{n}") for n in range(editors)]
    for session in sessions:
        session.share(document, text)
    exchanges = [await connect(n) for n in range(editors)]
    if not echo:
        for session, exchange in zip(sessions, exchanges, strict=True):
            session.apply_response(await exchange(session.build_request()))
    latencies: list[float] = []
    cpu_before = process_times(pid)
    start = time.monotonic()
    end = start + duration

    async def loop(session: ClientSession, exchange: Callable[[bytes], Awaitable[bytes]],
                   rng: random.Random) -> None:
        shared = session.documents[document]
        while time.monotonic() < end:
            began = time.monotonic()
            shared.text = type_into(shared.text, rng, 1024)
            answer = await exchange(session.build_request())
            if echo:
                shared.edit_stack.clear()
                shared.shadow = shared.text
            else:
                session.apply_response(answer)
            latencies.append(time.monotonic() - began)

    await asyncio.gather(*(loop(s, e, random.Random(rng.random()))
                           for s, e in zip(sessions, exchanges, strict=True)))
    elapsed = time.monotonic() - start
    cpu = process_times(pid) - cpu_before
    return {"syncs_per_s": len(latencies) / elapsed,
            "p50_ms": percentile(latencies, 50) * 1000,
            "p95_ms": percentile(latencies, 95) * 1000,
            "server_cpu": cpu / elapsed,
            "server_cpu_ms_per_sync": cpu * 1000 / max(len(latencies), 1)}


def resident(pid: int) -> int:
    """Resident memory of process *pid* now, in bytes (VmRSS)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def idle_memory(count: int, seed: int) -> dict[str, float]:
    """Memory per socket holding a synced view, and per view made over TCP."""
    documents = max(1, count // 10)
    text = make_text(1024, random.Random(seed))
    with tempfile.TemporaryDirectory(prefix="mobwrite-idle-") as workdir:
        daemon = Daemon(Path(workdir), "--max-chars", "0",
                        "--max-connections", str(count + 100)).start()
        assert daemon.process is not None
        pid = daemon.process.pid
        sockets: list[AsyncSocket] = []
        try:
            for number in range(documents):
                session = ClientSession(f"seed{number}")
                session.share(f"idle{number}", text)
                await tcp_exchange(daemon.ports["tcp"], session.build_request())
            before = resident(pid)
            for number in range(count):
                session = ClientSession(f"tcp{number}")
                session.share(f"idle{number % documents}")
                await tcp_exchange(daemon.ports["tcp"], session.build_request())
            views = resident(pid)
            for number in range(count):
                socket = AsyncSocket()
                await socket.open(daemon.ports["gateway"])
                session = ClientSession(f"ws{number}")
                session.share(f"idle{number % documents}")
                session.apply_response(await socket.exchange(session.build_request()))
                sockets.append(socket)
            after = resident(pid)
        finally:
            for socket in sockets:
                socket.close()
            daemon.stop()
    per_view = (views - before) / count
    per_socket = (after - views) / count
    echo, port = start_echo()
    sockets = []
    try:
        bare = resident(echo.pid)
        for _ in range(count):
            socket = AsyncSocket()
            await socket.open(port)
            await socket.exchange(b"u:idle\n\n")
            sockets.append(socket)
        echoing = resident(echo.pid)
    finally:
        for socket in sockets:
            socket.close()
        stop_echo(echo)
    return {"sockets": count, "documents": documents, "bytes_per_view": per_view,
            "bytes_per_socket_with_view": per_socket,
            "bytes_per_socket_beyond_view": per_socket - per_view,
            "bytes_per_bare_echo_socket": (echoing - bare) / count}


def start_echo() -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.wsecho"], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    match = re.search(r"port=(\d+)", process.stdout.readline())
    if match is None:
        process.terminate()
        raise RuntimeError("the echo server did not start")
    return process, int(match[1])


def stop_echo(echo: subprocess.Popen[str]) -> None:
    echo.terminate()
    echo.wait(30)
    assert echo.stdout is not None
    echo.stdout.close()


async def run(options: argparse.Namespace) -> dict[str, object]:
    if options.idle:
        return {"idle": await idle_memory(options.idle, options.seed)}
    sockets: list[AsyncSocket] = []

    def over_socket(port: int) -> Callable[[int], Awaitable[Callable[[bytes], Awaitable[bytes]]]]:
        async def connect(number: int) -> Callable[[bytes], Awaitable[bytes]]:
            socket = AsyncSocket()
            await socket.open(port)
            sockets.append(socket)
            return socket.exchange
        return connect

    def over_tcp(port: int) -> Callable[[int], Awaitable[Callable[[bytes], Awaitable[bytes]]]]:
        async def connect(number: int) -> Callable[[bytes], Awaitable[bytes]]:
            return lambda data: tcp_exchange(port, data)
        return connect

    daemon = Mobwrite()
    try:
        gateway, tcp = daemon.daemon.ports["gateway"], daemon.ports["tcp"]
        report: dict[str, object] = {
            "propagation": await propagation(gateway, options.edits,
                                             (options.min_pause, options.max_pause),
                                             options.seed)}
        report["socket"] = await closed_loop(options.editors, options.duration, daemon.pid,
                                             options.seed, over_socket(gateway), "throughput-ws")
        report["tcp"] = await closed_loop(options.editors, options.duration, daemon.pid,
                                          options.seed, over_tcp(tcp), "throughput-tcp")
    finally:
        for socket in sockets:
            socket.close()
        daemon.stop()
    echo, port = start_echo()
    try:
        report["echo"] = await closed_loop(options.editors, options.duration, echo.pid,
                                           options.seed, over_socket(port), "echo", echo=True)
    finally:
        for socket in sockets:
            socket.close()
        stop_echo(echo)
    return report


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=60, help="marked edits propagated")
    parser.add_argument("--min-pause", type=float, default=0.05,
                        help="shortest pause between the typist's edits (s)")
    parser.add_argument("--max-pause", type=float, default=0.3,
                        help="longest pause between the typist's edits (s)")
    parser.add_argument("--editors", type=int, default=10, help="editors typing back to back")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds each back-to-back run is measured")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--idle", type=int, default=0, metavar="N",
                        help="measure only the memory of N idle sockets instead")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    print(json.dumps(asyncio.run(run(parse(sys.argv[1:] if argv is None else argv)))),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
