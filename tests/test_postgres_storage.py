"""The PostgreSQL storage beyond the contract: its schema, its failures, the daemon on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from twisted.python import usage

from benchmarks.daemon import Daemon
from benchmarks.postgres import PostgresServer
from mobwrite.core.store import Store
from mobwrite.daemon.tap import Options
from mobwrite.storage.postgres import (
    MIGRATIONS,
    SCHEMA_VERSION,
    PostgresStorage,
    upgrade,
    write_rows,
)
from mobwrite.storage.rows import Batch, DocumentRow, StorageError


def schema_version(url: str) -> int:
    with psycopg.connect(url) as connection:
        found = connection.execute("SELECT version FROM mobwrite_schema").fetchall()
    assert len(found) == 1
    return int(found[0][0])


def at_schema(connection: psycopg.Connection[Any], version: int) -> None:
    """Make the empty database of *connection* what a mobwrite of schema *version* left."""
    for statements in MIGRATIONS[:version]:
        for statement in statements:
            connection.execute(statement)
    connection.execute("CREATE TABLE mobwrite_schema (version integer NOT NULL)")
    connection.execute("INSERT INTO mobwrite_schema VALUES (%s)", (version,))


def test_the_schema_is_created_and_its_version_recorded(postgres_url: str) -> None:
    """A daemon's first open of an empty database creates the tables at the current version;
    opening it again changes nothing."""
    storage = PostgresStorage(postgres_url)
    storage.open(Store())
    storage.close()
    assert schema_version(postgres_url) == SCHEMA_VERSION
    again = PostgresStorage(postgres_url)
    again.open(Store())
    again.close()
    assert schema_version(postgres_url) == SCHEMA_VERSION


def test_versions_after_the_upgrade_to_schema_4_pass_every_stored_one(postgres_url: str) -> None:
    """A database of schema 3 upgraded: a document written or made after it takes a version
    no document held before (a deleted one's version is never given again)."""
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        at_schema(connection, 3)
        connection.execute("INSERT INTO mobwrite_documents (name, body, lasttime, version) "
                           "VALUES ('gone', 'a', 1, 7), ('kept', 'b', 1, 2)")
        assert upgrade(connection) == 3
        connection.execute("DELETE FROM mobwrite_documents WHERE name = 'gone'")
        with connection.transaction():
            write_rows(connection, Batch({name: DocumentRow(name, "new", 2.0)
                                          for name in ("gone", "kept")}))
        versions = connection.execute(
            "SELECT name, version FROM mobwrite_documents ORDER BY name").fetchall()
    assert versions == [("gone", 8), ("kept", 9)]
    assert schema_version(postgres_url) == SCHEMA_VERSION == 4


def test_a_database_from_a_newer_mobwrite_is_refused(postgres_url: str) -> None:
    """A schema version this mobwrite does not know stops start-up with what to do."""
    PostgresStorage(postgres_url).open(Store())
    with psycopg.connect(postgres_url) as connection:
        connection.execute("UPDATE mobwrite_schema SET version = version + 1")
    storage = PostgresStorage(postgres_url)
    with pytest.raises(StorageError, match="newer than this mobwrite's.*run a newer mobwrite"):
        storage.open(Store())


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    """No server at the URL: a StorageError naming where it looked, within the timeout."""
    storage = PostgresStorage(f"postgresql://nobody@/none?host={tmp_path}", timeout=1.0)
    with pytest.raises(StorageError, match=f"PostgreSQL at postgresql://nobody@/none.*{tmp_path}"):
        storage.open(Store())


def test_the_database_is_a_setting_and_an_option(tmp_path: Path) -> None:
    """DATABASE in the settings file and --database both choose PostgreSQL; anything but a
    PostgreSQL URL, or --durability memory beside it, is refused."""
    config = tmp_path / "mobwrite.conf"
    config.write_text("DATABASE = postgresql://me@db/mobwrite\n")
    options = Options()
    options.parseOptions(["--config", str(config)])
    assert options["settings"].database == "postgresql://me@db/mobwrite"
    with pytest.raises(usage.UsageError, match="not a PostgreSQL URL"):
        Options().parseOptions(["--database", "mysql://db"])
    with pytest.raises(usage.UsageError, match="give one or the other"):
        Options().parseOptions(["--database", "postgresql:///x", "--durability", "memory"])


def test_a_second_daemon_finds_what_the_first_stored(
        postgres_server: PostgresServer, tmp_path: Path) -> None:
    """Documents written through a daemon on --database are in PostgreSQL, not in its data
    directory: a daemon with another data directory on the same database serves them."""
    url = postgres_server.new_database()
    first = Daemon(tmp_path, "--database", url).start()
    first.exchange(b"u:alice\nF:0:doc\nr:1:hello \xf0\x9f\x98\x80\n\n")
    first.stop()
    assert not (tmp_path / "data").exists()
    other = tmp_path / "other"
    other.mkdir()
    second = Daemon(other, "--database", url).start()
    try:
        reply = second.exchange(b"u:bob\nF:0:doc\nd:0:\n\n")
    finally:
        second.stop()
    assert reply == b"F:1:doc\nd:0:+hello %F0%9F%98%80\n"


def test_a_daemon_without_its_database_stops_with_the_reason(tmp_path: Path) -> None:
    """No PostgreSQL at the --database URL: the daemon stops before it listens, saying so."""
    daemon = Daemon(tmp_path, "--database", f"postgresql://nobody@/none?host={tmp_path}")
    daemon.launch()
    assert daemon.process is not None
    assert daemon.process.wait(60) != 0
    daemon.stop()
    output = "".join(daemon.lines)
    assert "cannot use the database /none" in output and "No such file" in output
    assert "listening" not in output
