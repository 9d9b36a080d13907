"""The thirty conformance conversations, against the engine and the real daemon (TCP and HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from http_client import callback, get, post_q

from benchmarks.daemon import Daemon
from conformance import CASES, ORIGINAL_FILE, Case, original_cases
from mobwrite.core.engine import Engine
from mobwrite.core.store import Store
from mobwrite.settings import Settings

ORIGINAL = original_cases() if ORIGINAL_FILE.exists() else []


def case_id(case: Case) -> str:
    return case.name.lower().replace(" ", "-")


def test_thirty_cases_are_kept() -> None:
    """Our copy holds every case, and matches the original file when it is present."""
    assert len(CASES) == 30
    if ORIGINAL:
        assert [(c.name, c.exchanges) for c in ORIGINAL] == [
            (c.name, c.exchanges) for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_engine(case: Case) -> None:
    """The engine alone answers each request as the case expects."""
    engine = Engine(Store(), Settings.defaults())
    for request, response in case.instantiate():
        assert engine.handle(request, 0.0).body == response


@pytest.fixture(scope="module")
def original_timing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon with the original's 2 s TIMEOUT_TELNET: the "Empty" case waits for the
    server to close a silent connection, which the default lets wait 30 s."""
    running = Daemon(tmp_path_factory.mktemp("conformance"), "--timeout-telnet", "2").start()
    yield running
    running.stop()


@pytest.mark.parametrize("case", CASES + ORIGINAL, ids=case_id)
def test_tcp(case: Case, original_timing: Daemon) -> None:
    """The daemon answers each case over TCP: output lines, no blank line, then close."""
    for request, response in case.instantiate():
        assert original_timing.exchange(request) == response


@pytest.mark.parametrize("case", CASES + ORIGINAL, ids=case_id)
def test_tcp_on_postgresql(case: Case, postgres_daemon: Daemon) -> None:
    """A daemon keeping its documents in PostgreSQL (--database) answers each case alike."""
    for request, response in case.instantiate():
        assert postgres_daemon.exchange(request) == response


@pytest.mark.parametrize("case", CASES + ORIGINAL, ids=case_id)
def test_http_post_q(case: Case, gateway_port: int) -> None:
    """Over HTTP POST ``q=``, each answer is the TCP answer plus one LF, as plain text."""
    for request, response in case.instantiate():
        reply = post_q(gateway_port, request)
        assert (reply.status, reply.body) == (200, response + b"\n")
        assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"


# Cases whose answers hold every character the escaping must handle: none,
# LF, tab, percent escapes, NUL and CR in the requests, several users.
BY_GET = [case for case in CASES if case.name in (
    "Empty", "Good raw text", "Raw text with special chars", "Delta with Unicode",
    "Raw text with malformed linefeed", "Simple collaboration", "Complete Buffer")]


@pytest.mark.parametrize("case", BY_GET, ids=case_id)
def test_http_get_q(case: Case, gateway_port: int) -> None:
    """``q=`` in the URL of a GET answers as the POST does."""
    for request, response in case.instantiate():
        reply = get(gateway_port, "q", request)
        assert (reply.status, reply.body) == (200, response + b"\n")


@pytest.mark.parametrize("case", BY_GET, ids=case_id)
def test_http_get_p(case: Case, gateway_port: int) -> None:
    """``p=`` answers with the TCP answer as the escaped argument of ``mobwrite.callback``."""
    for request, response in case.instantiate():
        reply = get(gateway_port, "p", request, path="/scripts/q.py")
        assert (reply.status, reply.body) == (200, callback(response))
        assert reply.headers["Content-Type"] == "text/javascript; charset=utf-8"
