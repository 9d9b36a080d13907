"""Framing and line grammar (docs/protocol.md §2.1, §3.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobwrite.core.request import (
    MAX_VERSION,
    Command,
    command_lines,
    is_complete,
    parse_command,
    parse_fragment,
    parse_name,
)


@pytest.mark.parametrize("ending", [b"\n\n", b"\r\r", b"\n\r\n\r", b"\r\n\r\n", b"\n\r\n"])
def test_complete_endings(ending: bytes) -> None:
    """The four original endings and LF CR LF complete a request."""
    assert is_complete(b"u:a" + ending)


@pytest.mark.parametrize("request_bytes", [b"", b"u:a", b"u:a\n", b"u:a\r\n", b"u:a\n\nx"])
def test_truncated_requests(request_bytes: bytes) -> None:
    """Anything else counts as cut short."""
    assert not is_complete(request_bytes)


def test_lines_split_on_three_breaks_only() -> None:
    """LF, CR LF and lone CR end lines; VT, FF, NEL and U+2028 do not."""
    data = "a\x0bb\x0c\nc\rd\r\ne\u2028f\x85\n\nignored\n".encode()
    assert command_lines(data) == [b"a\x0bb\x0c", b"c", b"d", "e\u2028f\x85".encode()]


def test_parsing_stops_at_first_empty_line() -> None:
    """Bytes after the blank line are never read, even if they look like commands."""
    assert command_lines(b"u:a\n\nF:0:x\n\n") == [b"u:a"]


@pytest.mark.parametrize(("line", "command"), [
    (b"u:alice", Command("u", None, b"alice")),
    (b"F:12:doc:with:colons", Command("F", 12, b"doc:with:colons")),
    (b"d:0:", Command("d", 0, b"")),
    (b"x:foo", Command("x", None, b"foo")),
    (b"N:doc", Command("N", None, b"doc")),
])
def test_good_lines(line: bytes, command: Command) -> None:
    """Well-formed lines parse into letter, version and payload."""
    assert parse_command(line) == command


@pytest.mark.parametrize("line", [
    b"", b"u", b"xy:1", b":foo", b"UNKNOWN COMMAND", b"F::doc", b"d:x:=3", b"r:5",
    b"F:-1:doc", b"F: 1:doc", b"F:+1:doc", b"F:1.0:doc", b"d:9007199254740992:=1",
    b"d:99999999999999999999:=1",
])
def test_malformed_lines_ignored(line: bytes) -> None:
    """Lines without a colon second, or with a bad version, are ignored."""
    assert parse_command(line) is None


def test_largest_version_accepted() -> None:
    """2**53 - 1 is still a version (exact in JavaScript)."""
    command = parse_command(b"d:%d:=1" % MAX_VERSION)
    assert command is not None and command.version == MAX_VERSION


@given(st.binary(max_size=60))
def test_parser_never_raises(line: bytes) -> None:
    """Any bytes give a command or None, never an exception."""
    command = parse_command(line)
    if command is not None:
        assert line[1:2] == b":"
        assert command.version is None or 0 <= command.version <= MAX_VERSION


@pytest.mark.parametrize(("raw", "name"), [
    (b"user123", "user123"), ("é😀".encode(), "é😀"), (b"a/b", "a/b"),
])
def test_names_accepted(raw: bytes, name: str) -> None:
    assert parse_name(raw, 500) == name


@pytest.mark.parametrize("raw", [b"", b"a\x00b", b"a\tb", b"\xff", b"x" * 501, b"a\x7fb"])
def test_names_refused(raw: bytes) -> None:
    """Empty, control characters, invalid UTF-8 and over-long names are refused."""
    assert parse_name(raw, 500) is None


def test_fragments() -> None:
    """Buffer payloads split at the first three spaces only."""
    assert parse_fragment(b"id 3 2 a b c") == (b"id", 3, 2, b"a b c")
    assert parse_fragment(b"id 3 x data") is None
    assert parse_fragment(b"id 3 2") is None
