"""CPU and wall time per sync of the shared store's transactions, in one process.

    python -m benchmarks.shared_transactions [--profile | --round-trips]

starts a throw-away PostgreSQL server, three ``SharedDocuments`` workers (as
three daemons would have) on one database, and 30 client sessions on 10
documents that each type a character and sync with a random worker, in
turn.  It prints the process's CPU milliseconds and the wall milliseconds
per sync (the clients' own work included: about 0.3 ms); ``--profile``
adds where the time went (cProfile, wall time); ``--round-trips`` counts
instead the round trips to PostgreSQL per sync (from libpq's trace of the
messages: each time the client stops sending and reads the server's
answer).  No sockets, no Twisted: the figure is the cost of the
transaction and the engine alone.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from psycopg import pq
from psycopg_pool import ConnectionPool

from benchmarks.postgres import PostgresServer
from mobwrite.client.session import ClientSession
from mobwrite.settings import Settings
from mobwrite.storage.postgres import upgrade
from mobwrite.storage.postgres_documents import SharedDocuments, shared_pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--round-trips", action="store_true")
    arguments = parser.parse_args()
    server = PostgresServer().start()
    try:
        pool: ConnectionPool[Any] = shared_pool(server.new_database(), 3, 10.0)
        pool.open(wait=True)
        with pool.connection() as connection:
            upgrade(connection)
        workers = [SharedDocuments(pool, Settings.defaults(), sender=str(index))
                   for index in range(3)]
        chance = random.Random(1)
        sessions = []
        for index in range(30):
            session = ClientSession(f"user{index}")
            session.share(f"doc{index % 10}")
            sessions.append(session)
        clock = [1000.0]

        def one_round() -> None:
            for session in sessions:
                document = next(iter(session.documents.values()))
                at = chance.randint(0, len(document.text))
                document.text = document.text[:at] + chance.choice("ab \n") + document.text[at:]
                clock[0] += 0.05
                body, _ = chance.choice(workers).run(session.build_request(), clock[0])
                session.apply_response(body)

        for _ in range(5):
            one_round()
        syncs = arguments.rounds * len(sessions)
        if arguments.round_trips:
            print(f"round_trips_per_sync {traced(pool, arguments.rounds, one_round) / syncs:.2f}")
            pool.close()
            return
        profile = cProfile.Profile()
        cpu, wall = time.process_time(), time.perf_counter()
        if arguments.profile:
            profile.enable()
        for _ in range(arguments.rounds):
            one_round()
        profile.disable()
        print(f"cpu_ms_per_sync {1000 * (time.process_time() - cpu) / syncs:.3f} "
              f"wall_ms_per_sync {1000 * (time.perf_counter() - wall) / syncs:.3f}")
        if arguments.profile:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
        pool.close()
    finally:
        server.stop()


def traced(pool: ConnectionPool[Any], rounds: int, one_round: Callable[[], None]) -> int:
    """The round trips *rounds* calls of *one_round* make on the pool's connections
    (one at a time, so the pool makes no new one meanwhile)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "trace"
        with path.open("w") as trace:
            held = [pool.getconn() for _ in range(pool.get_stats()["pool_available"])]
            for connection in held:
                connection.pgconn.trace(trace.fileno())
                connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
                pool.putconn(connection)
            for _ in range(rounds):
                one_round()
            for connection in held:
                connection.pgconn.untrace()
        # Each line starts with F (from the client) or B (from the server).
        senders = [line[:1] for line in path.read_text().splitlines() if line[:1] in "FB"]
    pairs = zip(senders, senders[1:], strict=False)
    return sum(1 for pair in pairs if pair == ("F", "B"))


if __name__ == "__main__":
    main()
