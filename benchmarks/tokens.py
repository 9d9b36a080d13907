"""What checking an access token costs per sync, next to the engine's own work.

``python -m benchmarks.tokens`` times, in this process and on one core:

* ``engine``: ``Engine.handle`` for one ordinary sync (an editor of a
  1 KB document shared by five, typing a few letters);
* ``check``: ``Gatekeeper.authorize`` for that request with a token seen
  before (the case of every sync after an editor's first);
* ``verify``: the same with a token never seen (signature, base64, JSON:
  an editor's first sync, or every sync if tokens were never remembered);
* ``decide``: the rules alone (``core.access.decide``), without the token.

Each figure is the best of several repeats, in microseconds of this
process's CPU time per call (CPU time, not wall time: the figures hold on a
busy machine).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from mobwrite.client.session import ClientSession
from mobwrite.core import access
from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.settings import Settings
from mobwrite.tokens import Gatekeeper, issue, new_key, read_keyring

NOW = 1_800_000_000.0
WORDS = "the quick brown fox jumps over a lazy dog while editors type their notes".split()


def best(work: Callable[[], object], number: int, repeat: int) -> float:
    """The fastest of *repeat* runs of *number* calls, in microseconds per call."""
    return min(timeit.repeat(work, number=number, repeat=repeat,
                             timer=time.process_time)) / number * 1e6


def sync_requests(editors: int, count: int, seed: int) -> tuple[Engine, list[bytes]]:
    """An engine holding one 1 KB document, and *count* typing syncs of its editors."""
    rng = random.Random(seed)
    engine = Engine(Store(), Settings.defaults())
    text = " ".join(rng.choice(WORDS) for _ in range(200))[:1024]
    clients = [ClientSession(f"editor{i:02d}") for i in range(editors)]
    clients[0].share("memo", text)
    for client in clients[1:]:
        client.share("memo")
    now = NOW
    for client in clients:
        for _ in range(2):
            now += 0.01
            client.apply_response(engine.handle(client.build_request(), now).body)
    requests = []
    for index in range(count):
        client = clients[index % editors]
        document = client.documents["memo"]
        at = rng.randrange(len(document.text) + 1)
        document.text = document.text[:at] + rng.choice(WORDS) + document.text[at:]
        request = client.build_request()
        requests.append(request)
        now += 0.01
        client.apply_response(engine.handle(request, now).body)
    return engine, requests


def measure(number: int, repeat: int) -> dict[str, float]:
    engine, requests = sync_requests(5, 2000, 7)
    replay = iter(requests * (repeat * number // len(requests) + 2))
    now = [NOW + 1000]

    def handle() -> None:
        now[0] += 0.001
        engine.handle(next(replay), now[0])

    request = requests[-1]
    with tempfile.TemporaryDirectory() as directory:
        secret = Path(directory) / "keys"
        new_key(secret)
        token = issue(secret, subject="bench", documents=["memo"], lifetime=3600.0, now=NOW)
        keyring = read_keyring(secret)
    remembering = Gatekeeper(keyring)
    remembering.authorize(token, request, NOW)
    forgetting = Gatekeeper(keyring, remember=0)
    grant = remembering.grant(token, NOW)
    return {
        "engine": best(handle, number, repeat),
        "check": best(lambda: remembering.authorize(token, request, NOW + 1), number, repeat),
        "verify": best(lambda: forgetting.authorize(token, request, NOW + 1), number, repeat),
        "decide": best(lambda: access.decide(grant, request, 500, 4), number, repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=2000, help="calls per repeat")
    parser.add_argument("--repeat", type=int, default=5, help="repeats (the best counts)")
    args = parser.parse_args()
    figures = measure(args.number, args.repeat)
    for name, micros in figures.items():
        print(f"{name:8} {micros:8.1f} µs per call")
    print(f"check / engine: {figures['check'] / figures['engine']:.1%}; "
          f"verify / engine: {figures['verify'] / figures['engine']:.1%}")


if __name__ == "__main__":
    main()
