"""CPU and wall time per sync of the shared store's transactions, in one process.

    python -m benchmarks.shared_transactions [--profile]

starts a throw-away PostgreSQL server, three ``SharedDocuments`` workers (as
three daemons would have) on one database, and 30 client sessions on 10
documents that each type a character and sync with a random worker, in
turn.  It prints the process's CPU milliseconds and the wall milliseconds
per sync (the clients' own work included: about 0.3 ms); ``--profile``
adds where the time went (cProfile, wall time).  No sockets, no Twisted:
the figure is the cost of the transaction and the engine alone.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import time
from typing import Any

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
        profile = cProfile.Profile()
        cpu, wall = time.process_time(), time.perf_counter()
        if arguments.profile:
            profile.enable()
        for _ in range(arguments.rounds):
            one_round()
        profile.disable()
        syncs = arguments.rounds * len(sessions)
        print(f"cpu_ms_per_sync {1000 * (time.process_time() - cpu) / syncs:.3f} "
              f"wall_ms_per_sync {1000 * (time.perf_counter() - wall) / syncs:.3f}")
        if arguments.profile:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
        pool.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
