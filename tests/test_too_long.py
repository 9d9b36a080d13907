"""Refusing a change that would make a document longer than MAX_CHARS (issue 14).

The engine refuses the one action, leaves the master and the view as they
were and says so with ``x:too_long:<limit>``; a client session rolls its
edit back, keeps its text and succeeds once the text is short enough.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import Endpoint
from test_tools import mobwrite, one_line_error

from benchmarks.daemon import Daemon
from mobwrite.client import operations
from mobwrite.client.errors import DocumentTooLong
from mobwrite.client.session import ClientSession
from mobwrite.core.engine import Engine
from mobwrite.core.store import Store, over_limit
from mobwrite.settings import Settings


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))


def make_engine(limit: int) -> Engine:
    settings = Settings.defaults(max_chars=limit)
    return Engine(Store(settings.max_chars), settings, Recorder())


def say(engine: Engine, *lines: str) -> list[str]:
    body = engine.handle(("\n".join(lines) + "\n\n").encode(), 0.0).body
    return body.decode().splitlines()


def view_state(engine: Engine, user: str, name: str) -> tuple[Any, ...]:
    view = engine.store.views[(user, name)]
    return (view.shadow, view.backup_shadow, view.client_version, view.server_version,
            view.backup_server_version, list(view.edit_stack))


@pytest.fixture
def name() -> str:
    return f"long_{secrets.token_hex(6)}"


def sync(engine: Engine, session: ClientSession) -> None:
    """One exchange of *session* with *engine*, as the client library runs it."""
    operation = operations.sync(session)
    request = next(operation)
    try:
        operation.send(engine.handle(request, 0.0).body + b"\n")
    except StopIteration:
        pass


def test_a_delta_past_the_limit_is_refused_and_nothing_changes() -> None:
    """The master and the view stay as they were; the answer says why, with the limit."""
    engine = make_engine(10)
    say(engine, "u:a", "F:0:doc", "r:1:Hello")
    before = view_state(engine, "a", "doc")
    assert say(engine, "u:a", "F:1:doc", "d:1:=5\t+, world!") == [
        "F:1:doc", "x:too_long:10", "d:1:=5"]
    assert engine.store.documents["doc"].text == "Hello"
    view = engine.store.views[("a", "doc")]
    # The answer itself moves the server version on, as every answer does.
    assert (view.shadow, view.client_version) == (before[0], before[2])
    assert ("too_long", {"user": "a", "name": "doc", "limit": 10}) in (
        engine.report.events)  # type: ignore[attr-defined]


def test_raw_texts_past_the_limit_are_refused() -> None:
    """A forced raw, and a first raw, over the limit store nothing and are told."""
    engine = make_engine(10)
    assert say(engine, "u:a", "F:0:doc", "R:1:" + "x" * 11) == [
        "F:0:doc", "x:too_long:10", "d:0:"]
    assert engine.store.documents["doc"].text is None
    say(engine, "u:b", "F:0:doc", "r:1:" + "y" * 10)
    assert say(engine, "u:c", "F:0:doc", "R:1:" + "z" * 11)[:2] == ["F:0:doc", "x:too_long:10"]
    assert engine.store.documents["doc"].text == "y" * 10


def test_others_edits_still_reach_a_refused_writer() -> None:
    """The refused writer's answer carries what someone else wrote meanwhile."""
    engine = make_engine(12)
    say(engine, "u:a", "F:0:doc", "r:1:Hello")
    say(engine, "u:b", "F:0:doc", "r:1:Hello")
    say(engine, "u:b", "F:1:doc", "d:1:=5\t+!")
    assert say(engine, "u:a", "F:1:doc", "d:1:=5\t+ and goodbye") == [
        "F:1:doc", "x:too_long:12", "d:1:=5\t+!"]
    assert engine.store.documents["doc"].text == "Hello!"


def test_later_actions_of_the_refused_view_are_skipped() -> None:
    """Edits that build on the refused one are not run; other documents are."""
    engine = make_engine(8)
    say(engine, "u:a", "F:0:doc", "r:1:Hello", "F:0:other", "r:1:Hi")
    assert say(engine, "u:a", "F:1:doc", "d:1:=5\t+ world", "d:2:=11\t-6",
               "F:1:other", "d:1:=2\t+!") == [
        "F:1:doc", "x:too_long:8", "d:1:=5", "F:2:other", "d:1:=3"]
    assert engine.store.documents["other"].text == "Hi!"


def test_a_lost_refusal_answer_is_recovered_like_any_lost_answer() -> None:
    """A client that never saw the refusal retries from the same shadow and is understood."""
    engine = make_engine(10)
    say(engine, "u:a", "F:0:doc", "r:1:Hello")
    say(engine, "u:a", "F:1:doc", "d:1:=5\t+, world!")
    assert say(engine, "u:a", "F:1:doc", "d:1:=5\t+!") == ["F:2:doc", "d:1:=6"]
    assert engine.store.documents["doc"].text == "Hello!"


@pytest.mark.parametrize(("text", "over"), [
    ("😀😀", False), ("😀😀a", True), ("aaaa", False), ("aaaaa", True), ("éééé", False),
    ("a\ud800b", False),
])
def test_characters_are_counted_as_a_browser_counts_them(text: str, over: bool) -> None:
    """MAX_CHARS counts UTF-16 code units: an emoji is two, an accented letter one."""
    assert over_limit(text, 4) is over
    assert not over_limit(text * 1000, 0)


def test_an_emoji_that_would_pass_the_limit_is_refused() -> None:
    """Four units hold two emoji; a third is refused though it is one code point more."""
    engine = make_engine(4)
    session = ClientSession("a")
    document = session.share("doc", "😀😀")
    sync(engine, session)
    assert engine.store.documents["doc"].text == "😀😀"
    document.text = "😀😀😀"
    with pytest.raises(DocumentTooLong, match="at most 4 characters"):
        sync(engine, session)
    assert engine.store.documents["doc"].text == "😀😀"


def test_the_client_rolls_back_keeps_its_text_and_retries() -> None:
    """The library raises, keeps the text as typed, merges others' edits and succeeds
    once the text is short enough, with all that was typed since in one edit."""
    engine = make_engine(20)
    writer, other = ClientSession("writer"), ClientSession("other")
    mine = writer.share("doc", "Hello")
    theirs = other.share("doc")
    sync(engine, writer)
    sync(engine, other)
    theirs.text = "Hello!"
    sync(engine, other)
    mine.text = "Hello, this is far too long"
    with pytest.raises(DocumentTooLong) as refused:
        sync(engine, writer)
    assert (refused.value.name, refused.value.limit) == ("doc", 20)
    assert mine.text == "Hello!, this is far too long"
    assert engine.store.documents["doc"].text == "Hello!"
    assert not mine.edit_stack
    mine.text = "Hello!, short now"
    sync(engine, writer)
    sync(engine, writer)
    assert engine.store.documents["doc"].text == "Hello!, short now"
    sync(engine, other)
    assert theirs.text == "Hello!, short now"


def test_a_refused_raw_and_the_delta_after_it_roll_back_to_before_the_raw() -> None:
    """A raw whose answer was lost, sent again with a delta at the same client
    version: both refused, the shadow goes back to what it was before the raw,
    so the next, shorter text is taken in one sync."""
    engine = make_engine(10)
    session = ClientSession("a")
    document = session.share("doc", "x" * 11)
    session.build_request()
    document.text = "x" * 12
    with pytest.raises(DocumentTooLong):
        sync(engine, session)
    assert (document.shadow, document.client_version, document.edit_stack) == ("", 0, [])
    document.text = "short"
    sync(engine, session)
    assert engine.store.documents["doc"].text == "short"


def test_a_taken_raw_and_a_refused_delta_after_it_roll_back_to_the_raw() -> None:
    """The raw fits and is taken, the delta after it is refused: the shadow is the raw's text."""
    engine = make_engine(10)
    session = ClientSession("a")
    document = session.share("doc", "x" * 10)
    session.build_request()
    document.text = "x" * 11
    with pytest.raises(DocumentTooLong):
        sync(engine, session)
    assert (document.shadow, document.client_version) == ("x" * 10, 1)
    document.text = "x" * 9
    sync(engine, session)
    assert engine.store.documents["doc"].text == "x" * 9


def test_a_refused_session_state_survives_saving() -> None:
    """The shadows kept for rolling back are part of the saved session."""
    session = ClientSession("a")
    session.share("doc", "text")
    session.build_request()
    restored = ClientSession.from_state(session.to_state())
    assert restored.documents["doc"].bases == session.documents["doc"].bases == {0: ""}


# Through a real daemon and the ``mobwrite`` command.

LONG = "".join(f"line {number:06d} of a long document\n" for number in range(4000))[:124_000]


@pytest.fixture(scope="module")
def small_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon whose documents hold at most 100,000 characters."""
    running = Daemon(tmp_path_factory.mktemp("small"), "--max-chars", "100000").start()
    yield running
    running.stop()


@pytest.fixture(params=["tcp", "http"])
def small(request: pytest.FixtureRequest, small_daemon: Daemon) -> Endpoint:
    return Endpoint(request.param,
                    small_daemon.ports["tcp" if request.param == "tcp" else "gateway"])


@pytest.mark.parametrize("force", [False, True])
def test_upload_past_the_limit_fails_and_cuts_nothing(small: Endpoint, name: str,
                                                      force: bool) -> None:
    """A 124,000-character upload to a 100,000-character daemon exits 9 with one line,
    and the document keeps its text whole."""
    assert len(LONG) == 124_000
    assert mobwrite("upload", small.url, name, stdin=b"short text\n").returncode == 0
    result = mobwrite("upload", *(["--force"] if force else []), small.url, name,
                      stdin=LONG.encode())
    assert result.returncode == 9
    assert "at most 100000 characters" in one_line_error(result)
    assert small.text_of(name) == "short text\n"


def test_sync_past_the_limit_fails_and_keeps_the_file(small: Endpoint, name: str,
                                                      tmp_path: Path) -> None:
    """sync of a file grown past the limit exits 9; the file and the document are kept."""
    path = tmp_path / "notes.txt"
    path.write_text("short\n")
    assert mobwrite("sync", small.url, name, str(path)).returncode == 0
    path.write_text(LONG)
    result = mobwrite("sync", small.url, name, str(path))
    assert result.returncode == 9
    assert "at most 100000 characters" in one_line_error(result)
    assert path.read_text() == LONG
    assert small.text_of(name) == "short\n"
    path.write_text(LONG[:99_000])
    assert mobwrite("sync", small.url, name, str(path)).returncode == 0
    assert small.text_of(name) == LONG[:99_000]


@pytest.mark.parametrize("size", [124_000, 5 * 1024 * 1024])
def test_the_default_limit_takes_long_documents_whole(endpoint: Endpoint, name: str,
                                                      size: int) -> None:
    """With the default settings, 124,000 characters and a 5 MiB document go up and
    come back whole, over TCP and HTTP."""
    text = (LONG * (size // len(LONG) + 1))[:size]
    upload = mobwrite("upload", "--timeout", "120", endpoint.url, name, stdin=text.encode())
    assert upload.returncode == 0, upload.stderr
    download = mobwrite("download", "--timeout", "120", endpoint.url, name)
    assert download.returncode == 0, download.stderr
    assert download.stdout == text.encode()
