"""The client's operations and saved state, driven against the engine with no I/O."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Generator
from typing import TypeVar

import pytest

from mobwrite.client import operations
from mobwrite.client.errors import BadURL, NullDocument, ProtocolFailure
from mobwrite.client.session import ClientSession
from mobwrite.client.urls import parse_url
from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.settings import Settings
from mobwrite.tools.watch import next_interval

T = TypeVar("T")


def answer(engine: Engine, request: bytes) -> bytes:
    """The engine's answer in HTTP ``q`` form, as the transports deliver it."""
    return engine.handle(request, 0.0).body + b"\n"


def drive(engine: Engine, operation: Generator[bytes, bytes, T]) -> T:
    try:
        request = next(operation)
        while True:
            request = operation.send(answer(engine, request))
    except StopIteration as finished:
        return finished.value


@pytest.fixture
def engine() -> Engine:
    return Engine(Store(), Settings.defaults())


def test_read_does_not_create_a_null_document(engine: Engine) -> None:
    """Reading a missing document answers None and leaves it null."""
    assert drive(engine, operations.read(["ghost"])) == {"ghost": None}
    ghost = engine.store.documents.get("ghost")
    assert ghost is None or ghost.text is None


def test_read_tells_empty_from_null_and_keeps_text(engine: Engine) -> None:
    """An empty document reads as "", a full one as its text, a missing one as None."""
    drive(engine, operations.upload("empty", "", force=True))
    drive(engine, operations.upload("full", "x 😀\ny", force=True))
    assert drive(engine, operations.read(["empty", "full", "none"])) == {
        "empty": "", "full": "x 😀\ny", "none": None}
    with pytest.raises(NullDocument, match="'none' does not exist"):
        drive(engine, operations.download(["full", "none"]))


def test_read_accepts_a_lowercase_reseed() -> None:
    """``r`` with text (a server reseeding a lost view) is text; empty ``r`` is null."""
    replies = operations.read_replies(b"F:0:a\nr:3:hi%0A\nF:0:b\nr:0:\nF:0:c\nR:0:\n\n")
    assert replies == {"a": "hi\n", "b": None, "c": ""}


@pytest.mark.parametrize("response", [b"", b"F:1:doc\nR:0:x\n", b"garbage"])
def test_incomplete_responses_are_protocol_failures(response: bytes) -> None:
    """An answer must end with a blank line (or be a lone LF)."""
    with pytest.raises(ProtocolFailure, match="malformed response"):
        operations.checked(response)


def test_undecodable_text_is_a_protocol_failure() -> None:
    with pytest.raises(ProtocolFailure, match="undecodable"):
        operations.read_replies(b"F:0:a\nR:0:%FF\n\n")


def test_sync_requires_an_answer_for_every_document() -> None:
    """A response that skips a shared document is a protocol failure."""
    session = ClientSession("someone")
    session.share("mine")
    sync = operations.sync(session)
    next(sync)
    with pytest.raises(ProtocolFailure, match="did not answer for mine"):
        sync.send(b"F:1:other\nd:0:\n\n")


def concurrent_edit(engine: Engine, editor: ClientSession, old: str, new: str) -> None:
    document = editor.documents["doc"]
    document.text = document.text.replace(old, new)
    drive(engine, operations.settle(editor))


@pytest.fixture
def editor(engine: Engine) -> ClientSession:
    """Another client, in step with document "doc"."""
    drive(engine, operations.upload("doc", "The cat sat.\n", force=True))
    session = ClientSession("editor01")
    session.share("doc")
    drive(engine, operations.settle(session))
    assert session.documents["doc"].text == "The cat sat.\n"
    return session


def test_upload_merges_an_edit_made_meanwhile(engine: Engine, editor: ClientSession) -> None:
    """Between reading and writing, another client's edit is kept, not wiped."""
    upload = operations.upload("doc", "The cat sat on the mat.\n")
    request = next(upload)
    request = upload.send(answer(engine, request))
    concurrent_edit(engine, editor, "cat", "big cat")
    with pytest.raises(StopIteration):
        while True:
            request = upload.send(answer(engine, request))
    assert engine.store.documents["doc"].text == "The big cat sat on the mat.\n"


def test_upload_force_overwrites_an_edit_made_meanwhile(
        engine: Engine, editor: ClientSession) -> None:
    """A forced upload replaces the text, whatever happened since it was prepared."""
    upload = operations.upload("doc", "The cat sat on the mat.\n", force=True)
    request = next(upload)
    concurrent_edit(engine, editor, "cat", "big cat")
    with pytest.raises(StopIteration):
        upload.send(answer(engine, request))
    assert engine.store.documents["doc"].text == "The cat sat on the mat.\n"


def test_saved_sessions_resume_and_converge(engine: Engine) -> None:
    """A session written to JSON and read back keeps syncing by deltas."""
    one, two = ClientSession("user0001"), ClientSession("user0002")
    one.share("doc", "shared 😀 text\n")
    two.share("doc")
    for session in (one, two, one):
        drive(engine, operations.settle(session))
    one = ClientSession.from_state(json.loads(json.dumps(one.to_state())))
    one.documents["doc"].text += "from one\n"
    two.documents["doc"].text = "from two\n" + two.documents["doc"].text
    for session in (one, two, one):
        request = session.build_request()
        assert b"\nr:" not in request and b"\nR:" not in request
        session.apply_response(answer(engine, request))
    expected = "from two\nshared 😀 text\nfrom one\n"
    assert one.documents["doc"].text == two.documents["doc"].text == expected


@pytest.mark.parametrize("state", [{}, {"user": "u", "prefix": "", "documents": [{}]},
                                   {"user": "u", "prefix": "", "documents": [
                                       {"name": "d", "text": "", "merge": True, "shadow": "",
                                        "client_version": "x", "server_version": 0,
                                        "delta_ok": True, "edit_stack": []}]}])
def test_bad_saved_state_is_refused(state: dict) -> None:
    with pytest.raises(ValueError, match="not a saved client session"):
        ClientSession.from_state(state)


def test_original_load_test_requests() -> None:
    """20 sections for fresh loadtest_ documents, each one of the original three shapes."""
    request = operations.original_loadtest_request(random.Random(1)).decode()
    assert request.endswith("\n\n")
    lines = request[:-2].split("\n")
    assert re.fullmatch(r"U:loadtester_\S{8}", lines[0])
    sections = re.findall(r"N:loadtest_\S{8}|F:0:loadtest_\S{8}\n(?:R:0:Hello world|"
                          r"d:0:\+Goodbye world)", "\n".join(lines[1:]))
    assert len(sections) == 20
    assert "\n".join(sections) == "\n".join(lines[1:])


@pytest.mark.parametrize(("text", "expected"), [
    ("telnet://localhost", ("telnet", "localhost", 3017)),
    ("telnet://127.0.0.1:4000/", ("telnet", "127.0.0.1", 4000)),
    ("http://[::1]:8017", ("http", "::1", 8017)),
    ("HTTPS://example.org/scripts/q.py", ("https", "example.org", 443)),
])
def test_good_urls(text: str, expected: tuple[str, str, int]) -> None:
    url = parse_url(text)
    assert (url.scheme, url.host, url.port) == expected


def test_gateway_urls_keep_their_path() -> None:
    assert parse_url("http://h:1/scripts/q.py").url == "http://h:1/scripts/q.py"
    assert parse_url("http://h").url == "http://h/"


@pytest.mark.parametrize(("text", "reason"), [
    ("mailto:x@y", "scheme"), ("telnet:///", "no host"), ("http://h:0/", "port 0"),
    ("http://h:port/", "Port could not be cast"), ("telnet://h:1/x", "no path"),
    ("http://h/#top", "fragment"), ("localhost:3017", "scheme"),
])
def test_bad_urls(text: str, reason: str) -> None:
    with pytest.raises(BadURL, match=reason):
        parse_url(text)


def test_poll_interval_adapts_within_bounds() -> None:
    """Changes shorten the interval by 20 % of the range, quiet lengthens it by 10 %."""
    assert next_interval(5.0, 1.0, 11.0, changed=True) == pytest.approx(3.0)
    assert next_interval(5.0, 1.0, 11.0, changed=False) == pytest.approx(6.0)
    assert next_interval(1.5, 1.0, 11.0, changed=True) == 1.0
    assert next_interval(10.5, 1.0, 11.0, changed=False) == 11.0
