"""The sync engine, driven directly (docs/protocol.md §8, §14, §15)."""

from __future__ import annotations

from typing import Any

import pytest

from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.settings import Settings


class Recorder:
    """Collects the engine's reported events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


def make_engine(**overrides: Any) -> Engine:
    settings = Settings.defaults(**overrides)
    return Engine(Store(settings.max_chars), settings, Recorder())


def say(engine: Engine, *lines: str, now: float = 0.0) -> list[str]:
    """Send a request of *lines*; return the response lines."""
    body = engine.handle(("\n".join(lines) + "\n\n").encode(), now).body
    return body.decode().splitlines()


def text_of(engine: Engine, name: str) -> str | None:
    document = engine.store.documents.get(name)
    return None if document is None else document.text


@pytest.fixture
def engine() -> Engine:
    return make_engine()


def test_worked_session_a_to_c(engine: Engine) -> None:
    """Transcripts (a) to (c): create, join with an empty field, edit and poll."""
    assert say(engine, "u:alice001", "F:0:notes", "r:1:Buy milk") == ["F:1:notes", "d:0:=8"]
    assert say(engine, "u:bob00002", "F:0:notes", "r:1:") == ["F:1:notes", "d:0:+Buy milk"]
    assert say(engine, "u:alice001", "F:1:notes", "d:1:=8\t+%0Aand eggs") == [
        "F:2:notes", "d:1:=17"]
    assert say(engine, "u:bob00002", "F:1:notes", "d:1:=8") == [
        "F:2:notes", "d:1:=8\t+%0Aand eggs"]


def test_worked_lost_response_d(engine: Engine) -> None:
    """Transcript (d): a lost reply is repaired by rollback and merged."""
    say(engine, "u:alice001", "F:0:notes", "r:1:Buy milk")
    say(engine, "u:bob00002", "F:0:notes", "r:1:Buy milk")
    assert say(engine, "u:bob00002", "F:1:notes", "d:1:=4\t-4\t+bread") == ["F:2:notes", "d:1:=9"]
    assert say(engine, "u:alice001", "F:1:notes", "d:1:=8") == [
        "F:2:notes", "d:1:=4\t-4\t+bread"]
    assert say(engine, "u:alice001", "F:1:notes", "d:1:=8", "d:2:=8\t+!") == [
        "F:3:notes", "d:1:=4\t-4\t+bread\t=1"]
    assert text_of(engine, "notes") == "Buy bread!"


def test_worked_overwrite_e(engine: Engine) -> None:
    """Transcript (e): uppercase deltas overwrite instead of merging."""
    rows = [
        (["u:alice001", "F:0:qty", "R:1:12"], ["F:1:qty", "D:0:=2"]),
        (["u:bob00002", "F:0:qty", "r:1:12"], ["F:1:qty", "d:0:=2"]),
        (["u:bob00002", "F:1:qty", "D:1:-2\t+15"], ["F:2:qty", "D:1:=2"]),
        (["u:alice001", "F:1:qty", "D:1:=2\t+0"], ["F:2:qty", "D:1:=3"]),
        (["u:bob00002", "F:2:qty", "D:2:=2"], ["F:3:qty", "D:2:=1\t-1\t+20"]),
    ]
    for request, response in rows:
        assert say(engine, *request) == response
    assert text_of(engine, "qty") == "120"


def test_worked_misfit_and_nullify_f_g(engine: Engine) -> None:
    """Transcripts (f) and (g): a delta that does not fit, then a nullify."""
    say(engine, "u:alice001", "F:0:notes", "r:1:Buy milk")
    assert say(engine, "u:alice001", "F:1:notes", "d:1:=5") == ["F:2:notes", "R:1:Buy milk"]
    assert say(engine, "u:alice001", "N:notes") == []
    assert "notes" not in engine.store.documents
    assert say(engine, "u:carol003", "F:0:notes", "d:0:=8") == ["F:1:notes", "r:0:"]


def test_worked_several_files_with_echo_h(engine: Engine) -> None:
    """Transcript (h): several files and users in one request, with echo."""
    assert say(engine, "U:alice001", "F:0:title", "r:1:Plan", "F:0:body", "r:1:Step one") == [
        "u:alice001", "F:1:title", "d:0:=4", "F:1:body", "d:0:=8"]
    assert say(engine, "U:alice001", "F:1:title", "d:1:=4", "U:bob00002", "F:0:title",
               "r:1:") == ["u:alice001", "F:2:title", "d:1:=4",
                           "u:bob00002", "F:1:title", "d:0:+Plan"]


def test_worked_encoding_i(engine: Engine) -> None:
    """Transcript (i): escapes in a raw reply."""
    assert say(engine, "u:alice001", "F:0:greet", "R:1:caf%C3%A9 50%25 %09tab") == [
        "F:1:greet", "D:0:=13"]
    assert say(engine, "u:alice001", "F:1:greet", "d:1:=3") == [
        "F:2:greet", "R:1:caf%C3%A9 50%25 %09tab"]


def test_worked_buffer_j(engine: Engine) -> None:
    """Transcript (j): four fragments in any order assemble one request."""
    fragments = ["b:p4s8k2dx 4 3 1%3AHi%20there%0A", "b:p4s8k2dx 4 1 u%3Awkq7r2mz%0AF%",
                 "b:p4s8k2dx 4 4 %0A", "b:p4s8k2dx 4 2 3A0%3Amemo%0Ar%3A"]
    answers = [say(engine, fragment) for fragment in fragments]
    assert answers == [[], [], [], ["F:1:memo", "d:0:=8"]]
    assert not engine.store.buffers and engine.store.buffered_bytes == 0


def test_no_double_increment_after_raw_reply(engine: Engine) -> None:
    """After an R reply the client's next delta, numbered from F, is applied (docs/protocol.md §14.1)."""
    say(engine, "u:alice001", "F:0:notes", "r:1:Buy milk")
    assert say(engine, "u:alice001", "F:1:notes", "d:1:=5") == ["F:2:notes", "R:1:Buy milk"]
    assert say(engine, "u:alice001", "F:1:notes", "d:2:=8\t+!") == ["F:3:notes", "d:1:=9"]
    assert text_of(engine, "notes") == "Buy milk!"


def test_lost_view_reseeds_with_lowercase_raw() -> None:
    """A client with history whose view is gone gets r with the text, and its edits merge
    (the session of docs/protocol.md §9.11)."""
    engine = make_engine()
    say(engine, "u:alice001", "F:0:notes", "r:1:Buy milk")
    engine.store.discard_view(("alice001", "notes"))
    say(engine, "u:bob00002", "F:0:notes", "r:1:Buy milk", "d:1:=4\t+oat \t=4")
    assert say(engine, "u:alice001", "F:7:notes", "d:9:=8\t+ now") == [
        "F:0:notes", "r:0:Buy oat milk"]
    assert text_of(engine, "notes") == "Buy oat milk"
    # The client puts its own change (" now") on "Buy oat milk"; its next delta carries it alone.
    assert say(engine, "u:alice001", "F:0:notes", "d:0:=12\t+ now") == ["F:1:notes", "d:0:=16"]
    assert text_of(engine, "notes") == "Buy oat milk now"


def test_new_client_without_history_still_gets_uppercase_raw(engine: Engine) -> None:
    """A brand-new view whose empty shadow misfits gets R, as the original did."""
    say(engine, "u:alice001", "F:0:notes", "r:1:Buy milk")
    assert say(engine, "u:carol003", "F:0:notes", "d:0:=3") == ["F:1:notes", "R:0:Buy milk"]


def test_max_views_refuses_before_running() -> None:
    """A request needing views beyond MAX_VIEWS gets no answer and changes nothing."""
    engine = make_engine(max_views=2)
    say(engine, "u:a", "F:0:one", "r:1:x")
    say(engine, "u:b", "F:0:one", "r:1:x")
    assert say(engine, "u:c", "F:0:two", "r:1:y") == []
    assert "two" not in engine.store.documents
    assert "views_full" in engine.report.names()  # type: ignore[attr-defined]
    assert say(engine, "u:a", "F:1:one", "d:1:=1") == ["F:2:one", "d:1:=1"]


def test_nullify_needs_no_view_and_clears_current_file(engine: Engine) -> None:
    """N works without a view and later delta lines need a fresh F line (docs/protocol.md §3.6)."""
    say(engine, "u:a", "F:0:doc", "r:1:text")
    assert say(engine, "u:z", "N:doc", "d:0:+again") == []
    assert text_of(engine, "doc") is None
    assert list(engine.store.views) == [("a", "doc")]


def test_null_document_comes_back_from_a_fitting_shadow(engine: Engine) -> None:
    """Another view's delta that fits its shadow re-creates a nullified document."""
    say(engine, "u:a", "F:0:doc", "r:1:Hello")
    say(engine, "u:b", "F:0:doc", "r:1:Hello")
    say(engine, "u:a", "N:doc")
    assert say(engine, "u:b", "F:1:doc", "d:1:=5") == ["F:2:doc", "d:1:=5"]
    assert text_of(engine, "doc") == "Hello"


def test_master_line_breaks_normalized_before_counting() -> None:
    """Line breaks become LF, and MAX_CHARS counts the text once they have."""
    engine = make_engine(max_chars=6)
    assert say(engine, "u:a", "F:0:doc", "R:1:ab%0D%0Acde") == [
        "F:1:doc", "D:0:=2\t-1\t=4"]
    assert text_of(engine, "doc") == "ab\ncde"


def test_invalid_utf8_raw_answered_with_server_text(engine: Engine) -> None:
    """An undecodable raw is refused like a bad delta, never a crash (docs/protocol.md §6.2)."""
    say(engine, "u:a", "F:0:doc", "r:1:Hello")
    assert say(engine, "u:b", "F:0:doc", "R:1:%FF%FE") == ["F:0:doc", "R:0:Hello"]
    assert text_of(engine, "doc") == "Hello"
    assert "raw_refused" in engine.report.names()  # type: ignore[attr-defined]


def test_edit_stack_stays_bounded(engine: Engine) -> None:
    """Acknowledgements that match nothing do not pile up server edits."""
    say(engine, "u:a", "F:0:doc", "r:1:Hello")
    for _ in range(3):
        say(engine, "u:a", "F:1:doc", "d:1:=5")
    for _ in range(50):
        say(engine, "u:a", "F:0:doc", "d:0:=5")
    view = engine.store.views[("a", "doc")]
    assert len(view.edit_stack) <= 2


def test_bad_names_drop_actions(engine: Engine) -> None:
    """Actions under an invalid user or file id are dropped."""
    assert say(engine, "u:a\x01b", "F:0:doc", "r:1:x") == []
    assert say(engine, "u:ok", "F:0:" + "n" * 501, "r:1:x") == []
    assert not engine.store.documents


def test_buffer_limits() -> None:
    """Too many slots, too many buffered bytes and deep nesting are refused."""
    engine = make_engine(max_buffer_slots=3, max_buffered_bytes=10, max_buffer_depth=2)
    assert say(engine, "b:big 4 1 data") == []
    assert not engine.store.buffers
    assert say(engine, "b:a 2 1 0123456789x") == []
    assert engine.store.buffered_bytes == 0
    inner = "b%3Ainner 1 1 u%253Aa%250AF%253A0%253Ad%250Ar%253A1%253Ax%250A%0A"
    assert say(engine, f"b:outer 1 1 {inner}") == []
    names = engine.report.names()  # type: ignore[attr-defined]
    assert names == ["buffer_too_large", "buffers_full", "buffer_too_deep"]


def test_buffer_key_includes_size(engine: Engine) -> None:
    """The same name with another size is another buffer."""
    say(engine, "b:n 2 1 u%3Aa%0A")
    say(engine, "b:n 3 2 x")
    assert len(engine.store.buffers) == 2


def test_report_outcome_changed(engine: Engine) -> None:
    """Outcomes say whether anything must become durable."""
    assert not engine.handle(b"x:1\n\n", 0.0).changed
    assert engine.handle(b"u:a\nF:0:d\nr:1:x\n\n", 0.0).changed
