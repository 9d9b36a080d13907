"""Refusing a change the server has no room for: MAX_MEMORY and MAX_STORED.

The refusal rolls back like one past MAX_CHARS (tests/test_too_long.py) but
says so with its own line, ``x:no_room:<setting>``, so that no client tells
the writer their document is full when the server is.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from http_client import fetch
from servers import Endpoint
from test_too_long import say, sync, view_state
from test_tools import mobwrite, one_line_error

from benchmarks.daemon import Daemon
from mobwrite.client.errors import DocumentTooLong, OutOfRoom, refusal
from mobwrite.client.session import ClientSession
from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.settings import Settings


def memory_engine(max_memory: int) -> Engine:
    return Engine(Store(max_chars=30, max_memory=max_memory), Settings.defaults(max_chars=30),
                  lambda event, **fields: None)


def test_a_full_memory_budget_is_told_apart_from_a_long_document() -> None:
    """Growth past MAX_MEMORY is refused with ``x:no_room:MAX_MEMORY``, the
    view left exactly as it was; past MAX_CHARS the answer still says too_long."""
    engine = memory_engine(0)
    say(engine, "u:a", "F:0:doc", "r:1:Hello")
    before = view_state(engine, "a", "doc")
    engine.store.max_memory = engine.store.held_bytes
    assert say(engine, "u:a", "F:1:doc", "d:1:=5\t+, world") == [
        "F:1:doc", "x:no_room:MAX_MEMORY", "d:1:=5"]
    assert engine.store.documents["doc"].text == "Hello"
    after = view_state(engine, "a", "doc")
    assert (after[0], after[2]) == (before[0], before[2])
    assert say(engine, "u:a", "F:1:doc", "d:1:=5\t+" + "!" * 30)[:2] == [
        "F:1:doc", "x:too_long:30"]


def test_the_client_rolls_back_and_succeeds_once_there_is_room() -> None:
    """The library raises OutOfRoom (not DocumentTooLong), keeps the text as
    typed, and the same text goes through once the budget allows it."""
    engine = memory_engine(0)
    session = ClientSession("a")
    document = session.share("doc", "Hello")
    sync(engine, session)
    engine.store.max_memory = engine.store.held_bytes
    document.text = "Hello, world"
    with pytest.raises(OutOfRoom, match=r"out of room \(MAX_MEMORY\)") as refused:
        sync(engine, session)
    assert (refused.value.name, refused.value.setting, refused.value.exit_code) == (
        "doc", "MAX_MEMORY", 11)
    assert (document.text, document.shadow, document.edit_stack) == ("Hello, world", "Hello", [])
    engine.store.max_memory = 0
    sync(engine, session)
    sync(engine, session)
    assert engine.store.documents["doc"].text == "Hello, world"
    assert not session.refused


@pytest.mark.parametrize(("notice", "expected"), [
    (b"too_long:10", DocumentTooLong), (b"no_room:MAX_STORED", OutOfRoom),
    (b"no_room:SOMETHING_NEW", OutOfRoom), (b"no_room:", None), (b"no_room:a b", None),
    (b"too_long:ten", None), (b"elsewhere:1", None),
])
def test_the_client_knows_both_refusals_and_ignores_what_it_cannot_read(
        notice: bytes, expected: type | None) -> None:
    """A limit this client does not know by name is still a lack of room; a
    malformed or unknown ``x:`` line is ignored, as old clients ignore it."""
    found = refusal("doc", notice)
    assert (None if found is None else type(found)) is expected


# Through a real daemon whose disk quota is spent from the start.

@pytest.fixture(scope="module")
def quota_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon whose MAX_STORED (1 byte) is reached before anything is written."""
    running = Daemon(tmp_path_factory.mktemp("quota"), "--max-stored", "1").start()
    yield running
    running.stop()


@pytest.fixture(params=["tcp", "http"])
def quota(request: pytest.FixtureRequest, quota_daemon: Daemon) -> Endpoint:
    return Endpoint(request.param,
                    quota_daemon.ports["tcp" if request.param == "tcp" else "gateway"])


@pytest.fixture
def name() -> str:
    return f"room_{secrets.token_hex(6)}"


@pytest.mark.parametrize("force", [False, True])
def test_upload_without_room_exits_11_with_one_line(quota: Endpoint, name: str,
                                                    force: bool) -> None:
    """``mobwrite upload`` says the server is out of room, naming MAX_STORED, not MAX_CHARS."""
    result = mobwrite("upload", *(["--force"] if force else []), quota.url, name,
                      stdin=b"hello\n")
    assert result.returncode == 11
    line = one_line_error(result)
    assert "out of room (MAX_STORED)" in line and "MAX_CHARS" not in line
    assert quota.text_of(name) is None


def test_sync_without_room_exits_11_and_keeps_the_file(quota: Endpoint, name: str,
                                                       tmp_path: Path) -> None:
    """``mobwrite sync`` of a new document fails the same way and leaves the file alone."""
    path = tmp_path / "notes.txt"
    path.write_text("my notes\n")
    result = mobwrite("sync", quota.url, name, str(path))
    assert result.returncode == 11
    assert "out of room (MAX_STORED)" in one_line_error(result)
    assert path.read_text() == "my notes\n"
    assert quota.text_of(name) is None


def test_the_api_answers_507_without_room(quota_daemon: Daemon, name: str) -> None:
    """A PUT that would create a document gets 507 naming the limit, not 413."""
    reply = fetch(f"http://127.0.0.1:{quota_daemon.ports['gateway']}/api/v1/documents/{name}",
                  json.dumps({"text": "hello"}).encode(), method="PUT",
                  headers={"Content-Type": "application/json"})
    assert reply.status == 507
    assert "out of room (MAX_STORED)" in json.loads(reply.body)["error"]
