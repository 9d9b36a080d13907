"""``BlockingClient`` against the real daemon over TCP and a gateway over HTTP."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from fakes import FailingGateway, FakeServer, closed_port
from servers import Endpoint

from mobwrite.client.blocking import BlockingClient
from mobwrite.client.errors import BadURL, NullDocument, ProtocolFailure, Unreachable
from mobwrite.client.session import ClientSession


@pytest.fixture
def name() -> str:
    return f"lib_{secrets.token_hex(6)}"


def test_upload_download_nullify(endpoint: Endpoint, name: str) -> None:
    """The three one-shot operations, checked by raw exchanges."""
    client = BlockingClient(endpoint.url)
    client.upload(name, "one 😀\ntwo\n")
    assert endpoint.text_of(name) == "one 😀\ntwo\n"
    assert client.download(name) == "one 😀\ntwo\n"
    client.upload(name, "forced", force=True)
    assert client.download_many([name]) == {name: "forced"}
    client.nullify(name)
    assert endpoint.text_of(name) is None
    with pytest.raises(NullDocument):
        client.download(name)
    assert endpoint.text_of(name) is None


def test_sessions_converge(endpoint: Endpoint, name: str) -> None:
    """Two sessions editing different parts both see both edits."""
    client = BlockingClient(endpoint.url)
    one, two = ClientSession(), ClientSession()
    first = one.share(name, "middle\n")
    second = two.share(name)
    client.sync(one)
    client.sync(two)
    assert second.text == "middle\n"
    first.text = "top\n" + first.text
    second.text = second.text + "bottom\n"
    for session in (one, two, one):
        client.sync(session)
    assert first.text == second.text == "top\nmiddle\nbottom\n"


def test_exchange_of_a_request_without_actions(endpoint: Endpoint) -> None:
    """An empty answer is one LF over either transport."""
    assert BlockingClient(endpoint.url).exchange(b"u:nobody\n\n") == b"\n"


def test_unreachable() -> None:
    with pytest.raises(Unreachable, match="cannot reach"):
        BlockingClient(f"telnet://127.0.0.1:{closed_port()}").download("doc")


@pytest.fixture
def silent() -> Iterator[FakeServer]:
    server = FakeServer(None)
    yield server
    server.close()


def test_timeout(silent: FakeServer) -> None:
    with pytest.raises(Unreachable, match="did not answer within 0.2 s"):
        BlockingClient(silent.url, timeout=0.2).download("doc")


def test_http_error_status() -> None:
    gateway = FailingGateway()
    try:
        with pytest.raises(ProtocolFailure, match="HTTP 500"):
            BlockingClient(gateway.url).download("doc")
    finally:
        gateway.close()


def test_bad_url() -> None:
    with pytest.raises(BadURL):
        BlockingClient("gopher://x/")
