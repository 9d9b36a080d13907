"""The WebSocket push without a network: subscriptions, coalescing, messages, origins."""

from __future__ import annotations

import pytest

from mobwrite.core import push
from mobwrite.core.engine import Engine
from mobwrite.core.origins import origin_allowed
from mobwrite.core.push import Subscriptions
from mobwrite.core.store import Store
from mobwrite.settings import SettingError, Settings, parse_origins


def following(*pairs: tuple[str, list[str]]) -> Subscriptions[str]:
    subscriptions: Subscriptions[str] = Subscriptions()
    for subscriber, names in pairs:
        subscriptions.add(subscriber)
        subscriptions.follow(subscriber, names)
    return subscriptions


def test_a_change_wakes_each_follower_once_but_not_the_committer() -> None:
    """Followers of a changed document are woken; the one whose request changed it is not."""
    subscriptions = following(("a", ["memo"]), ("b", ["memo"]), ("c", ["other"]))
    assert sorted(subscriptions.changed({"memo"}, committer="a")) == ["b"]
    assert subscriptions.take("b") == ["memo"]
    assert subscriptions.take("a") == [] and subscriptions.take("c") == []


def test_a_burst_of_changes_is_coalesced_into_the_one_owed_notice() -> None:
    """However many changes arrive before the notice goes, it is one notice naming each once."""
    subscriptions = following(("b", ["memo", "todo"]))
    assert subscriptions.changed({"memo"}) == ["b"]
    for _ in range(50):
        assert subscriptions.changed({"memo"}) == []
    assert subscriptions.changed({"todo"}) == []
    assert subscriptions.take("b") == ["memo", "todo"]
    assert subscriptions.take("b") == []
    assert (subscriptions.counts.notices_sent, subscriptions.counts.notices_coalesced) == (1, 51)


def test_a_notice_keeps_only_the_names_its_reader_may_read() -> None:
    """Names the filter drops are not sent; a notice left empty is neither sent nor counted."""
    subscriptions = following(("b", ["memo", "todo"]))
    subscriptions.changed({"memo", "todo"})
    assert subscriptions.take("b", lambda name: name == "memo") == ["memo"]
    subscriptions.changed({"todo"})
    assert subscriptions.take("b", lambda name: False) == []
    assert subscriptions.take("b") == [] and subscriptions.counts.notices_sent == 1


def test_syncing_a_document_settles_what_was_owed_for_it() -> None:
    """A request that syncs a document pays the notice owed for it; others stay owed."""
    subscriptions = following(("b", ["memo", "todo"]))
    subscriptions.changed({"memo", "todo"})
    subscriptions.settle("b", {"memo"})
    assert subscriptions.owes("b")
    subscriptions.settle("b", {"todo"})
    assert not subscriptions.owes("b")
    assert subscriptions.take("b") == []


def test_removing_a_subscriber_forgets_it_everywhere() -> None:
    """A closed socket leaves no trace: no follower lists, no owed notice."""
    subscriptions = following(("b", ["memo"]))
    subscriptions.changed({"memo"})
    subscriptions.remove("b")
    assert (len(subscriptions), subscriptions.followers, subscriptions.owed) == (0, {}, {})
    assert subscriptions.changed({"memo"}) == []


def test_a_subscriber_follows_at_most_the_cap() -> None:
    """Names beyond the cap are refused and counted, so one socket cannot grow without bound."""
    subscriptions: Subscriptions[str] = Subscriptions(max_followed=2)
    subscriptions.add("b")
    assert subscriptions.follow("b", ["one", "two", "three", "two"]) == 1
    assert subscriptions.followed["b"] == {"one", "two"}
    assert subscriptions.follow("gone", ["one"]) == 0


def test_synced_names_reads_f_lines_only() -> None:
    """The documents a request or answer syncs are its f:/F: lines, up to the blank line."""
    data = b"u:me\nF:3:memo\nd:2:=4\nf:0:todo\nn:gone\nF:x:bad\n\nF:0:after\n"
    assert push.synced_names(data, 500) == {"memo", "todo"}
    assert push.synced_names(b"F:1:" + b"n" * 20 + b"\n\n", 10) == set()


@pytest.mark.parametrize(("message", "result"), [
    ("u:me\nF:0:memo\nd:0:=4\n\n", b"u:me\nF:0:memo\nd:0:=4\n\n"),
    ("u:me\nF:0:memo\nd:0:=4\n", "incomplete request: end it with a blank line"),
    ("u:me\n" + "x" * 40 + "\n\n", "a line over MAX_LINE_BYTES (30)"),
    ("u:" + "é" * 60 + "\n\n", "over MAX_REQUEST_BYTES (100)"),
])
def test_read_request_runs_only_complete_requests_within_limits(
        message: str, result: bytes | str) -> None:
    """A message is run only if it is one complete request within the size limits."""
    assert push.read_request(message, 100, 30) == result


def test_messages_round_trip() -> None:
    """Answers end with their blank line; notices and errors are told apart from answers."""
    assert push.answer_message(b"F:1:memo\nd:0:=4\n") == "F:1:memo\nd:0:=4\n\n"
    assert push.answer_message(b"") == "\n"
    notice = push.notice_message(["memo", "to do"])
    assert notice == "!changed:memo\n!changed:to do\n\n"
    assert push.notice_names(notice) == ["memo", "to do"]
    assert push.notice_names(push.answer_message(b"F:1:memo\n")) is None
    assert push.error_message("bad") == "!error:bad\n\n"
    assert push.message_token(push.token_message("abc")) == "abc"
    assert push.message_token("!token: abc \n\n") == "abc"
    assert push.message_token("u:x\n\n") is None


def test_the_engine_reports_the_documents_a_request_changed() -> None:
    """``Outcome.documents`` names this request's changed texts; earlier changes stay recorded."""
    engine = Engine(Store(), Settings.defaults())
    first = engine.handle(b"u:a\nF:0:memo\nr:1:Hello\n\n", 0.0)
    assert first.documents == {"memo"} and first.changed
    poll = engine.handle(b"u:a\nF:1:memo\nd:1:=5\n\n", 1.0)
    assert poll.documents == frozenset() and poll.changed
    pending = engine.store.pending()
    assert pending.documents == {"memo"}
    assert pending.views == {("a", "memo")}


EDITOR = ("http://127.0.0.1:8000",)


@pytest.mark.parametrize(("origin", "allowed", "editors", "verdict"), [
    (None, (), EDITOR, True),
    ("http://127.0.0.1:8000", (), EDITOR, True),
    ("HTTP://127.0.0.1:8000/", (), EDITOR, True),
    ("http://127.0.0.1:3000", (), EDITOR, False),
    ("https://evil.example", (), EDITOR, False),
    ("null", (), EDITOR, False),
    ("http://localhost:8000", (), ("http://localhost:8000",), True),
    ("http://[::1]:8000", (), ("http://[::1]:8000",), True),
    # A DNS name could be re-pointed at the daemon: never allowed by default.
    ("http://rebound.example:8000", (), ("http://rebound.example:8000",), False),
    ("https://docs.example.org", ("https://docs.example.org:443",), (), True),
    ("https://docs.example.org:8443", ("https://docs.example.org:443",), (), False),
    ("http://127.0.0.1:8000", ("https://docs.example.org:443",), EDITOR, False),
    ("https://anything.example", ("*",), (), True),
])
def test_origin_check(origin: str | None, allowed: tuple[str, ...],
                      editors: tuple[str, ...], verdict: bool) -> None:
    """Only listed origins, or by default the daemon's own editor by address, may open a socket."""
    assert origin_allowed(origin, allowed, editors) is verdict


def test_the_origins_setting_normalizes_and_refuses_what_is_not_an_origin() -> None:
    """WEBSOCKET_ORIGINS takes origins and *, and says what to write otherwise."""
    assert parse_origins("https://Docs.example.org, http://127.0.0.1:8000 *") == (
        "https://docs.example.org:443", "http://127.0.0.1:8000", "*")
    assert parse_origins("") == ()
    with pytest.raises(SettingError, match="is not an origin; write scheme://host"):
        parse_origins("docs.example.org/editor")


def test_pushed_messages_are_read_line_by_line_and_bad_lines_skipped() -> None:
    """``!pushed:<m>:<name>``: versions by name; a bad version or name is skipped."""
    message = push.pushed_message([("memo", 3), ("todo", 12)])
    assert message == "!pushed:3:memo\n!pushed:12:todo\n"
    assert push.message_pushed(message, 100) == {"memo": 3, "todo": 12}
    hostile = "!pushed:x:memo\n!pushed:-1:a\n!pushed:99999999999999999:b\n!pushed:4:\n!pushed:5:" + "n" * 200
    assert push.message_pushed(hostile, 100) == {}
    assert push.message_pushed("u:someone\n\n", 100) is None


def test_a_delta_message_carries_answer_blocks() -> None:
    """``!delta:`` then the blocks and a blank line; read back as answer lines."""
    message = push.delta_message(["F:1:memo\nd:4:=5\t+x"])
    assert message == "!delta:\nF:1:memo\nd:4:=5\t+x\n\n"
    assert push.delta_blocks(message) == b"F:1:memo\nd:4:=5\t+x\n\n"
    assert push.delta_blocks("!changed:memo\n\n") is None


def test_the_user_of_each_synced_document_is_read_from_the_request() -> None:
    """Each ``F``/``f`` name maps to the ``u``/``U`` line before it."""
    request = b"u:ann\nF:1:memo\nd:1:=3\nU:bob\nf:0:todo\nr:1:x\nF:0:\n\n"
    assert push.synced_views(request, 100) == {"memo": "ann", "todo": "bob"}


def test_a_synced_document_without_a_valid_user_is_named_but_has_no_view() -> None:
    """A name before any ``u`` line, or after one that is not a valid user id,
    is a synced name (an answer's ``F`` lines) but no view."""
    data = b"F:0:early\nu:ann\nF:1:memo\nu:" + b"x" * 20 + b"\nF:1:late\n\n"
    assert push.synced_names(data, 10) == {"early", "memo", "late"}
    assert push.synced_views(data, 10) == {"memo": "ann"}
    assert list(push.synced_files(data, 10)) == [("early", None), ("memo", "ann"), ("late", None)]
