"""``mobwrite dump`` and ``mobwrite load``: round trips between running stores of both kinds."""

from __future__ import annotations

import filecmp
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from benchmarks.daemon import Daemon
from benchmarks.postgres import PostgresServer
from mobwrite.core.revisions import RevisionRow, SnapshotRow
from mobwrite.storage import postgres_moving
from mobwrite.storage.dump import (
    DumpError,
    RevisionLine,
    SnapshotLine,
    dump_lines,
    dump_stream,
    read_dump,
)
from mobwrite.storage.rows import DocumentRow, ViewRow
from mobwrite.tools import moving
from mobwrite.tools.main import main

# Recent enough that the daemons' housekeeping keeps them.
NOW = time.time()
ODD = "emoji 😀, a lone \ud800 surrogate, NUL \x00 and\nlines"
DOCUMENTS = [DocumentRow("odd", ODD, NOW), DocumentRow("plain", "text", NOW + 0.5)]
VIEWS = [ViewRow("alice", "odd", ODD, ODD + "\udfff", 3, 4, 2, ((3, "=5\t+%F0%9F%98%80"),), NOW + 1),
         ViewRow("bob", "nothing", "", "", 0, 0, 0, (), NOW + 2)]


def run(*arguments: str) -> None:
    assert main(list(arguments)) == 0


def dump_of(daemon: Daemon, path: Path) -> bytes:
    run("dump", f"http://127.0.0.1:{daemon.ports['gateway']}/", "--output", str(path))
    return path.read_bytes()


def test_dump_then_load_round_trips_both_kinds_byte_for_byte(
        postgres_server: PostgresServer, tmp_path: Path) -> None:
    """Rows loaded into a data directory, edited through a running daemon, dumped, loaded into
    PostgreSQL, dumped from there and from a daemon on it, and loaded back into a data
    directory: every dump is the same bytes (emoji, lone surrogates and NUL included)."""
    start = tmp_path / "start.jsonl"
    start.write_bytes(b"".join(dump_lines(DOCUMENTS, VIEWS)))
    (tmp_path / "one").mkdir()
    run("load", str(start), "--data-dir", str(tmp_path / "one" / "data"))
    embedded = Daemon(tmp_path / "one").start()
    try:
        embedded.exchange(b"u:carol\nF:0:new\nr:1:caf%C3%A9 %F0%9F%98%80\n\n")
        first = dump_of(embedded, tmp_path / "first.jsonl")
    finally:
        embedded.stop()
    batch = read_dump(first.splitlines(keepends=True))
    assert batch.documents["odd"] == DOCUMENTS[0] and batch.views["alice", "odd"] == VIEWS[0]
    assert batch.documents["new"].text == "café 😀"
    assert b'{"revision":"new","number":1,' in first and b'{"snapshot":"new","number":0,' in first

    url = postgres_server.new_database()
    run("load", str(tmp_path / "first.jsonl"), "--database", url)
    run("dump", url, "--output", str(tmp_path / "database.jsonl"))
    assert (tmp_path / "database.jsonl").read_bytes() == first
    (tmp_path / "two").mkdir()
    on_postgres = Daemon(tmp_path / "two", "--database", url).start()
    try:
        assert dump_of(on_postgres, tmp_path / "daemon.jsonl") == first
    finally:
        on_postgres.stop()

    (tmp_path / "three").mkdir()
    run("load", str(tmp_path / "database.jsonl"), "--data-dir", str(tmp_path / "three" / "data"))
    back = Daemon(tmp_path / "three").start()
    try:
        assert dump_of(back, tmp_path / "back.jsonl") == first
    finally:
        back.stop()


def test_load_refuses_a_store_that_holds_anything(
        postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Loading twice into the same database is refused, and the first load stays whole."""
    path = tmp_path / "dump.jsonl"
    path.write_bytes(b"".join(dump_lines(DOCUMENTS, VIEWS)))
    run("load", str(path), "--database", postgres_url)
    assert main(["load", str(path), "--database", postgres_url]) == 10
    assert "already holds 2 documents and 2 views: load only into an empty store" in (
        capsys.readouterr().err)
    run("dump", postgres_url, "--output", str(tmp_path / "again.jsonl"))
    assert (tmp_path / "again.jsonl").read_bytes() == path.read_bytes()


@pytest.mark.parametrize(("lines", "message"), [
    ([], "without the end line"),
    ([b'{"format":"something-else","version":1}\n'], "line 1: not a mobwrite-dump file"),
    ([b'{"format":"mobwrite-dump","version":3}\n'], "of version 1 or 2"),
    (list(dump_lines(DOCUMENTS, VIEWS))[:-1], "truncated"),
    (list(dump_lines(DOCUMENTS, VIEWS))[:2] + [b'{"document":"x"}\n'], "line 3: not a dump"),
    (list(dump_lines(DOCUMENTS, VIEWS)) + [b"{}\n"], "more lines after the end"),
])
def test_a_damaged_dump_is_refused_with_where(lines: list[bytes], message: str) -> None:
    """Only a whole dump of a known version loads; the error says which line is wrong."""
    with pytest.raises(DumpError, match=message):
        read_dump(lines)


def test_a_version_1_dump_still_loads() -> None:
    """A dump written before revisions were dumped (header version 1, an end line counting
    documents and views) reads as before, with no revisions."""
    lines = [b'{"format":"mobwrite-dump","version":1}\n',
             b'{"document":"plain","text":"text","lasttime":1.0}\n',
             b'{"end":{"documents":1,"views":0}}\n']
    batch = read_dump(lines)
    assert batch.documents["plain"].text == "text" and batch.history == []


def test_revisions_of_a_document_the_dump_lacks_are_refused() -> None:
    """A revision line for a document the file does not hold would load a history of
    nothing: the file is refused, naming the document."""
    lines = [b'{"format":"mobwrite-dump","version":2}\n',
             b'{"revision":"ghost","number":1,"time":1.0,"author":"a","kind":"edit",'
             b'"change":[[0,"","x"]]}\n',
             b'{"snapshot":"ghost","number":0,"text":""}\n',
             b'{"end":{"documents":0,"views":0,"revisions":1,"snapshots":1}}\n']
    with pytest.raises(DumpError, match="revisions of 'ghost' but not the document"):
        read_dump(lines)


def big_dump(path: Path, count: int) -> None:
    """A dump of *count* documents of 2 KB, each with a view holding it twice, every
    tenth with a revision and a snapshot, written line by line (never held whole)."""
    def name(number: int) -> str:
        return f"doc{number:05d}"

    def text(number: int) -> str:
        return f"{number} 🐢 ".ljust(2000, "x")

    every_tenth = range(0, count, 10)
    with path.open("wb") as file:
        for line in dump_stream(
                (DocumentRow(name(n), text(n), NOW) for n in range(count)),
                (ViewRow("alice", name(n), text(n), text(n) + "~", 2, 3, 1, (), NOW)
                 for n in range(count)),
                (RevisionLine(name(n), RevisionRow(1, NOW, "ann", "edit", '[[0,"","x"]]'))
                 for n in every_tenth),
                (SnapshotLine(name(n), SnapshotRow(0, "")) for n in every_tenth)):
            file.write(line)


def peak_while(work: Callable[[], None]) -> int:
    """The most bytes Python held at once, beyond what it held before, while *work* ran."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_a_big_database_is_loaded_and_dumped_in_bounded_memory(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """2,000 documents with their views (a 12 MB file) go into PostgreSQL and back out
    with a few batches of rows held at once (50 rows a batch here), not the store: the
    dump is the loaded file byte for byte, and progress shows every 1,000 rows."""
    monkeypatch.setattr(postgres_moving, "BATCH", 50)
    monkeypatch.setattr(moving, "PROGRESS_ROWS", 1000)
    source, copy = tmp_path / "big.jsonl", tmp_path / "copy.jsonl"
    big_dump(source, 2000)
    size = source.stat().st_size
    assert size > 12_000_000
    loading = peak_while(lambda: run("load", str(source), "--database", postgres_url))
    dumping = peak_while(lambda: run("dump", postgres_url, "--output", str(copy)))
    assert filecmp.cmp(source, copy, shallow=False)
    # The whole store would be more than the file; a few batches are well under 2 MB.
    assert loading < size // 6 and dumping < size // 6, (loading, dumping)
    shown = capsys.readouterr().err.splitlines()
    for command in ("load", "dump"):
        assert [line for line in shown if line.startswith(f"mobwrite {command}: ")] == [
            f"mobwrite {command}: {rows} rows so far" for rows in range(1000, 4001, 1000)] + [
            f"mobwrite {command}: 2000 documents and 2000 views (200 revisions, "
            "200 snapshots)" + (f" into {postgres_url}" if command == "load" else "")]


def test_a_dump_of_a_database_of_another_collation_is_in_code_point_order(
        postgres_server: PostgresServer, tmp_path: Path) -> None:
    """A database whose collation sorts "apple" before "Zebra" (ICU, English) is dumped
    in code point order all the same, as every dump is: a dump loaded into it and
    dumped again is the same bytes."""
    with psycopg.connect(postgres_server.url(), autocommit=True) as connection:
        connection.execute("CREATE DATABASE english TEMPLATE template0 "
                           "LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C'")
    url = postgres_server.url("english")
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT 'apple' < 'Zebra', 'été' < 'f'").fetchone() == (
            True, True)
    names = ["Zebra", "apple", "f", "zoo", "été", "😀", "\uff5e"]
    path = tmp_path / "names.jsonl"
    path.write_bytes(b"".join(dump_lines(
        [DocumentRow(name, name, NOW) for name in names],
        [ViewRow(user, "apple", "", "", 0, 0, 0, (), NOW) for user in ("bob", "Carol", "ália")])))
    run("load", str(path), "--database", url)
    run("dump", url, "--output", str(tmp_path / "again.jsonl"))
    assert (tmp_path / "again.jsonl").read_bytes() == path.read_bytes()


def test_a_load_that_finds_the_file_damaged_midway_leaves_the_database_empty(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Rows written before the load reaches the missing end line are rolled back: the
    database stays empty, and a whole file then loads."""
    monkeypatch.setattr(postgres_moving, "BATCH", 2)
    whole = list(dump_lines(DOCUMENTS, VIEWS))
    path = tmp_path / "cut.jsonl"
    path.write_bytes(b"".join(whole[:-1]))
    assert main(["load", str(path), "--database", postgres_url]) == 7
    assert "without the end line" in capsys.readouterr().err
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT (SELECT count(*) FROM mobwrite_documents), "
                                  "(SELECT count(*) FROM mobwrite_views)").fetchone() == (0, 0)
    path.write_bytes(b"".join(whole))
    run("load", str(path), "--database", postgres_url)


def test_a_failed_dump_leaves_the_output_file_as_it_was(tmp_path: Path) -> None:
    """A dump that fails (here no database there) replaces nothing and leaves no
    temporary file behind."""
    output = tmp_path / "kept.jsonl"
    output.write_bytes(b"the previous dump\n")
    assert main(["dump", f"postgresql://nobody@/none?host={tmp_path}", "--timeout", "1",
                 "--output", str(output)]) == 10
    assert output.read_bytes() == b"the previous dump\n"
    assert [path.name for path in tmp_path.iterdir()] == ["kept.jsonl"]
