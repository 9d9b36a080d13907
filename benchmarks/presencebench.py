"""The presence benchmark: many people on one document moving their carets.

Run as ``python -m benchmarks.presencebench``; it starts a fresh daemon on
loopback, opens ``--people`` sockets that each sync one 1 KB document once
(so they follow it), then has each publish a ``!presence:`` with a moved
caret ``--rate`` times a second for ``--duration`` seconds, every socket
reading what it is sent.  Prints one JSON object: the daemon's CPU (share of
one core) while the carets move, the presence updates it sent (its
``/metrics``) and those received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from wsproto.events import TextMessage

from benchmarks.daemon import Daemon
from benchmarks.loadgen import process_times
from benchmarks.pushbench import AsyncSocket
from mobwrite.client.session import ClientSession
from mobwrite.core.presence import PRESENCE
from mobwrite.tools.loadmodel import make_text

DOCUMENT = "presence-room"
SENT = "mobwrite_presence_updates_total"


def updates_sent(port: int) -> float:
    """The presence updates the daemon has sent, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith(SENT + " "):
                return float(line.split()[1])
    raise RuntimeError(f"no {SENT} in /metrics")


async def measure(port: int, pid: int, people: int, rate: float, duration: float,
                  seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    text = make_text(1024, rng)
    sockets = []
    for number in range(people):
        socket = AsyncSocket()
        await socket.open(port)
        session = ClientSession(f"person-{number}")
        session.share(DOCUMENT, text)
        session.apply_response(await socket.exchange(session.build_request()))
        sockets.append(socket)
    # Let the arrivals settle before the clock starts.
    await asyncio.sleep(0.5)
    received_before = sum(socket.presence_updates for socket in sockets)
    sent_before = updates_sent(port)
    cpu_before = process_times(pid)
    start = time.monotonic()
    end = start + duration
    sent = 0

    async def move(number: int, socket: AsyncSocket, rng: random.Random) -> None:
        nonlocal sent
        tick = start + rng.random() / rate
        while tick < end:
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
            caret = rng.randrange(len(text))
            body = json.dumps({"name": f"Person {number}", "color": "#336699",
                               "carets": {DOCUMENT: [caret, caret]}})
            socket.writer.write(socket.ws.send(TextMessage(PRESENCE + body)))
            sent += 1
            tick += 1 / rate

    await asyncio.gather(*(move(n, s, random.Random(rng.random()))
                           for n, s in enumerate(sockets)))
    elapsed = time.monotonic() - start
    cpu = process_times(pid) - cpu_before
    sent_updates = updates_sent(port) - sent_before
    received = sum(socket.presence_updates for socket in sockets) - received_before
    for socket in sockets:
        socket.close()
    return {"people": people, "rate_hz": rate, "seconds": elapsed,
            "published_per_s": sent / elapsed, "updates_sent_per_s": sent_updates / elapsed,
            "updates_received_per_s": received / elapsed,
            "server_cpu": cpu / elapsed}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.presencebench")
    parser.add_argument("--people", type=int, default=100)
    parser.add_argument("--rate", type=float, default=5.0, help="caret moves per second each")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=16)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory() as workdir:
        daemon = Daemon(Path(workdir)).start()
        try:
            assert daemon.process is not None
            result = asyncio.run(measure(daemon.ports["gateway"], daemon.process.pid,
                                         options.people, options.rate, options.duration,
                                         options.seed))
        finally:
            daemon.stop()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
