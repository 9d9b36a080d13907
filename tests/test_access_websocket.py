"""Access control on the WebSocket of a real daemon with a key file (docs/websocket.md).

Each attack sends, over a socket, a request that would change or delete a
document; it must be refused with an ``!error:403`` message (or the socket
closed with 1008, for a bad token in the URL) and leave the document as it
was, as read back through the trusted TCP port.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import jwt
import pytest
import pytest_twisted
from http_client import fetch_path
from protected import ATTACKS, TEXT, ProtectedSite, attack_requests

from benchmarks.daemon import ROOT, tcp_exchange
from mobwrite.client.blocking import BlockingClient
from mobwrite.client.errors import ClientError, NullDocument, ProtocolFailure, Unreachable
from mobwrite.client.session import ClientSession
from mobwrite.client.txclient import TwistedClient
from mobwrite.client.urls import parse_url
from mobwrite.client.websocket import SocketConnection
from mobwrite.tools.main import main


class Site(ProtectedSite):
    """A protected daemon, its socket's URL, and tokens minted from its key file."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.url = f"ws://127.0.0.1:{self.daemon.ports['gateway']}/ws"

    def socket(self, token: str | None, place: str = "message") -> SocketConnection:
        """A socket holding *token*, given in its URL or in a first ``!token:`` message."""
        if place == "url" and token is not None:
            return SocketConnection(parse_url(f"{self.url}?token={quote(token)}"), 10.0)
        return SocketConnection(parse_url(self.url), 10.0, token=token)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("wsaccess")
    running = Site(workdir)
    yield running
    running.daemon.stop()


# Tokens that verify: a socket opened with them in its URL stays open.
VALID = ("another document's token", "read token deleting", "write token deleting")


@pytest.mark.parametrize("place", ["url", "message"])
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_refused_requests_change_nothing(site: Site, attack: str, place: str) -> None:
    """Each bad token is refused for an overwrite and a delete; the text stays."""
    name = re.sub(r"\W", "", f"ws{place}{attack}")
    site.seed(name)
    before = site.status_row(name)
    token = ATTACKS[attack](site, name)
    requests = attack_requests(attack, name)
    connection = site.socket(token, place)
    try:
        for request in requests:
            if place == "url" and token is not None and attack not in VALID:
                with pytest.raises(Unreachable, match=r"closed.*1008 the token"):
                    connection.exchange(request)
                break
            with pytest.raises(ProtocolFailure, match="refused the request: 403 "):
                connection.exchange(request)
    finally:
        connection.close()
    assert site.status_row(name) == before, "a refused request opened a view"
    assert site.text(name) == TEXT


@pytest.mark.parametrize("place", ["url", "message"])
def test_a_read_only_token_writing_is_answered_with_the_master(site: Site, place: str) -> None:
    name = f"wsreadonly{place}"
    site.seed(name)
    connection = site.socket(site.token(documents=[name], read_only=True), place)
    try:
        answer = connection.exchange(b"u:reader\nF:0:%s\nR:0:pwned\n\n" % name.encode())
    finally:
        connection.close()
    assert b"D:0:" in answer and b"+Keep" in answer
    assert site.text(name) == TEXT


def test_good_tokens_sync_and_delete(site: Site) -> None:
    site.seed("wsgranted")
    with BlockingClient(site.url, token=site.token(documents=["wsgranted"],
                                                   delete=True)) as client:
        client.upload("wsgranted", "mine", force=True)
        assert site.text("wsgranted") == "mine"
        client.nullify("wsgranted")
    with pytest.raises(NullDocument):
        site.text("wsgranted")


def follow(client: BlockingClient, *names: str) -> None:
    session = ClientSession()
    for name in names:
        session.share(name)
    client.sync(session)


def test_notices_name_only_documents_the_token_covers(site: Site) -> None:
    """A socket that followed A and B, then renewed its token for A only, hears only of A."""
    for name in ("wsnoticea", "wsnoticeb"):
        site.seed(name)
    with BlockingClient(site.url, token=site.token(prefixes=["wsnotice"])) as client:
        follow(client, "wsnoticea", "wsnoticeb")
        client.renew(site.token(documents=["wsnoticea"]))
        follow(client, "wsnoticea")
        site.trusted.upload("wsnoticeb", "B changed", force=True)
        site.trusted.upload("wsnoticea", "A changed", force=True)
        assert client.wait_for_change(10.0) == {"wsnoticea"}


def test_a_read_only_token_hears_of_changes(site: Site) -> None:
    site.seed("wsreadnotice")
    with BlockingClient(site.url, token=site.token(documents=["wsreadnotice"],
                                                   read_only=True)) as client:
        follow(client, "wsreadnotice")
        site.trusted.upload("wsreadnotice", "changed", force=True)
        assert client.wait_for_change(10.0) == {"wsreadnotice"}


def test_a_token_that_expires_stops_working_until_renewed(site: Site) -> None:
    """Requests after the expiry are refused on the open socket; a new ``!token:`` renews it."""
    site.seed("wsexpiring")
    token = site.token(documents=["wsexpiring"], now=time.time() - 58.0, lifetime=60.0)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    with BlockingClient(site.url, token=token) as client:
        assert client.download("wsexpiring") == TEXT
        # Waiting for the clock itself: nothing else marks the expiry.
        time.sleep(max(0.0, expires - time.time()) + 0.2)
        with pytest.raises(ProtocolFailure, match="403 the token has expired"):
            client.upload("wsexpiring", "too late", force=True)
        client.renew(site.token(documents=["wsexpiring"]))
        client.upload("wsexpiring", "renewed", force=True)
    assert site.text("wsexpiring") == "renewed"


def test_refusals_are_counted_and_logged_without_the_token(site: Site) -> None:
    token = site.token(documents=["wselsewhere"])
    with BlockingClient(site.url, token=token) as client, pytest.raises(ProtocolFailure):
        client.upload("wscounted", "x", force=True)
    site.daemon.wait_for_log(
        r"refused a request to the WebSocket .*'tester'.*document 'wscounted'")
    metrics = fetch_path(site.daemon.ports["gateway"], "/metrics").body.decode()
    assert re.search(r'mobwrite_access_refusals_total\{reason="not_covered"\} [1-9]', metrics)
    log = "".join(site.daemon.lines)
    assert token not in log and token.split(".")[2] not in log


@pytest.mark.parametrize("place", ["url", "message"])
def test_an_unsigned_token_with_every_right_is_refused(site: Site, place: str) -> None:
    """``alg: none`` claiming every document: refused (more malformed tokens: test_hostile)."""
    site.seed("wsunsigned")
    token = jwt.encode({"sub": "mallory", "exp": time.time() + 60, "aud": "mobwrite",
                        "rights": ["read", "write", "delete"], "prefixes": [""]},
                       None, algorithm="none")
    connection = site.socket(token, place)
    try:
        with pytest.raises(ClientError, match="403 |1008 "):
            connection.exchange(b"u:m\nF:0:wsunsigned\nR:0:pwned\n\n")
    finally:
        connection.close()
    assert site.text("wsunsigned") == TEXT


def test_watch_sends_its_token(site: Site, tmp_path: Path) -> None:
    site.trusted.upload("wswatched", "one", force=True)
    command = [sys.executable, "-m", "mobwrite", "watch", site.url, "wswatched",
               "--count", "2", "--min-interval", "600", "--max-interval", "600",
               "--token", site.token(documents=["wswatched"], read_only=True)]
    with subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}) as watcher:
        assert watcher.stdout is not None
        assert watcher.stdout.readline() == "one\n"
        tcp_exchange(site.daemon.ports["tcp"], b"u:author\nF:0:wswatched\nR:0:pushed\n\n")
        assert watcher.stdout.readline() == "pushed\n"
        assert watcher.wait(30) == 0


@pytest_twisted.ensureDeferred
async def test_the_twisted_client_sends_its_token(site: Site) -> None:
    from twisted.internet import reactor

    site.seed("wstwisted")
    for url in (site.url, f"http://127.0.0.1:{site.daemon.ports['gateway']}/"):
        client = TwistedClient(reactor, url, token=site.token(documents=["wstwisted"]))
        try:
            assert await client.download("wstwisted") == TEXT
        finally:
            client.close()
        stranger = TwistedClient(reactor, url, token=site.token(documents=["wsother"]))
        try:
            with pytest.raises(ProtocolFailure, match="403"):
                await stranger.download("wstwisted")
        finally:
            stranger.close()


def test_presence_reaches_only_sockets_whose_token_reads_the_document(site: Site) -> None:
    """Two sockets followed A and B; once one's token covers only A, it hears of no one on B."""
    for name in ("wspresa", "wspresb"):
        site.seed(name)
    token = site.token(prefixes=["wspres"])
    with BlockingClient(site.url, token=token) as ann, \
            BlockingClient(site.url, token=token) as bo:
        follow(ann, "wspresa", "wspresb")
        follow(bo, "wspresa", "wspresb")
        bo.renew(site.token(documents=["wspresa"]))
        follow(bo, "wspresa")
        ann.publish("Ann", "#ff0000")
        changes = bo.wait_for_presence(10.0)
        assert [(name, entry and entry["name"]) for name, _, entry in changes] == [
            ("wspresa", "Ann")]
        assert bo.present("wspresb") == []


def test_socket_edits_are_signed_by_the_token_subject(
        site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    """An edit sent over the socket is a revision by the token's subject, not
    by the view's user id: ``mobwrite history`` lists the subject."""
    site.seed("wssigned")
    token = site.token(subject="carol@example.org", documents=["wssigned"])
    with BlockingClient(site.url, token=token) as client:
        client.upload("wssigned", "signed over the socket")
    assert site.text("wssigned") == "signed over the socket"
    gateway = f"http://127.0.0.1:{site.daemon.ports['gateway']}/"
    assert main(["history", gateway, "wssigned", "--token", token]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert rows[-1][3:5] == ["carol@example.org", "edit"]
