"""``mobwrite dump`` and ``mobwrite load``: round trips between running stores of both kinds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from benchmarks.daemon import Daemon
from benchmarks.postgres import PostgresServer
from mobwrite.storage.dump import DumpError, dump_lines, read_dump
from mobwrite.storage.rows import DocumentRow, ViewRow
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
