"""The tests' own PostgreSQL server (benchmarks/postgres.py)."""

from __future__ import annotations

import psycopg

from benchmarks.postgres import PostgresServer


def test_each_test_database_starts_empty_on_a_unix_socket(postgres_server: PostgresServer) -> None:
    """Two databases of one server are separate, and the server has no TCP port."""
    first, second = postgres_server.new_database(), postgres_server.new_database()
    with psycopg.connect(first) as connection:
        connection.execute("CREATE TABLE t (x int)")
    with psycopg.connect(second) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        listening = connection.execute("SHOW listen_addresses").fetchone()
    assert tables == (0,)
    assert listening == ("",)
