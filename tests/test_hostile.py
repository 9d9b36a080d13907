"""Hostile input against the real daemon: bounded answers, service goes on, data intact.

One daemon with tightened limits takes every attack in turn.  After each,
a well-behaved client must still sync; at the end the daemon's memory has
stayed within a generous bound and a sentinel document is unchanged, also
after a restart.
"""

from __future__ import annotations

import base64
import re
import signal
import socket
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import Flood

from benchmarks.daemon import Daemon, tcp_exchange
from mobwrite.client.errors import ClientError
from mobwrite.client.session import ClientSession
from mobwrite.client.urls import parse_url
from mobwrite.client.websocket import SocketConnection
from mobwrite.core.escaping import encode_text
from mobwrite.storage.journal import JOURNAL_NAMES
from mobwrite.storage.sqlite import DATABASE_NAME, LOCK_NAME
from mobwrite.tokens import MAX_TOKEN_CHARS, new_key

LIMITS = {
    "--max-connections": "200",
    "--timeout-telnet": "1",
    "--timeout-telnet-request": "3",
    "--request-deadline": "3",
    "--max-request-bytes": "1000000",
    "--max-line-bytes": "500000",
    "--max-buffered-bytes": "2000000",
    "--max-buffer-slots": "1000",
    "--max-chars": "100000",
}
OPTIONS = [part for pair in LIMITS.items() for part in pair]
SENTINEL = "Sentinel: keep me exactly — ünïcødé 😀 and\nnew lines\n"
# Lines a server may send (docs/protocol.md §3.8).
_SERVER_LINE = re.compile(rb"[uF]:\S.*|[dDrR]:[0-9]+:.*|x:too_long:[0-9]+|x:no_room:MAX_(?:MEMORY|STORED)")


class Workbench:
    """The daemon under attack and a well-behaved client that keeps syncing."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        # Access control guards the gateway; the TCP port stays trusted.
        secret = workdir / "keys"
        new_key(secret)
        self.options = OPTIONS + ["--auth-secret-file", str(secret)]
        self.daemon = Daemon(workdir, *self.options).start()
        self.client = ClientSession("wellbehaved")
        self.document = self.client.share("health")
        self.marks = 0
        self.rss_start = 0

    @property
    def port(self) -> int:
        return self.daemon.ports["tcp"]

    def healthy(self) -> None:
        """A normal edit is acknowledged and the master holds every mark so far."""
        self.marks += 1
        self.document.text += f"[{self.marks}]"
        response = tcp_exchange(self.port, self.client.build_request())
        self.client.apply_response(response)
        assert response.startswith(b"F:") and not self.document.edit_stack
        assert self.document.text == "".join(f"[{i}]" for i in range(1, self.marks + 1))

    def rss_kib(self) -> int:
        assert self.daemon.process is not None
        status = Path(f"/proc/{self.daemon.process.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        assert match is not None
        return int(match[1])


def attempt(port: int, data: bytes, timeout: float = 10.0) -> bytes | None:
    """Send *data*; the answer, or None if the daemon cut the connection."""
    try:
        return tcp_exchange(port, data, timeout)
    except (ConnectionResetError, BrokenPipeError):
        return None


def well_formed(response: bytes | None) -> bool:
    if not response:
        return True
    lines = response.split(b"\n")
    return lines[-1] == b"" and all(_SERVER_LINE.fullmatch(line) for line in lines[:-1])


def read_document(port: int, name: str) -> str | None:
    reader = ClientSession()
    reader.share(name)
    for _ in range(2):
        reader.apply_response(tcp_exchange(port, reader.build_request()))
    return reader.documents[name].text


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    workbench = Workbench(tmp_path_factory.mktemp("hostile"))
    writer = ClientSession("sentinel-writer")
    writer.share("sentinel", SENTINEL)
    for _ in range(2):
        writer.apply_response(tcp_exchange(workbench.port, writer.build_request()))
    workbench.healthy()
    workbench.rss_start = workbench.rss_kib()
    yield workbench
    workbench.daemon.stop()


MALFORMED = [
    b"garbage\n\n",
    b"u\n\n",
    b"u:\n\n",
    b":::\n\n",
    b"\x00\x01\x02\xff\n\n",
    b"u:alice\nF:abc:doc\nd:x:y\n\n",
    b"u:alice\nF:-1:doc\nd:-1:=0\n\n",
    b"u:alice\nF: 1:doc\nd:+1:=0\n\n",
    b"u:alice\nF:0:doc\nd:0:=99999\n\n",
    b"u:alice\nF:0:doc\nd:0:=1\t=1\t-5\n\n",
    b"u:alice\nF:0:doc\nd:0:+%ZZ\n\n",
    b"u:alice\nF:0:doc\nd:0:+%C3%28\n\n",
    b"u:alice\nF:0:doc\nd:0:+%\n\n",
    b"u:alice\nF:0:doc\nd:0:\xff\xfe\n\n",
    b"u:alice\nF:0:doc\nr:1:%FF%FE\n\n",
    b"u:alice\nF:0:doc\nr:1:\xc3\x28\n\n",
    b"u:alice\nF:0:doc\nR:1:%ED%A0%80\n\n",
    b"u:\xff\xfe\nF:0:doc\nr:1:x\n\n",
    b"u:alice\nF:0:\xc0\xaf\nr:1:x\n\n",
    b"u:alice\nd:0:=0\n\n",
    b"u:alice\nn:doc\nd:0:=0\nr:1:x\n\n",
    b"F:0:doc\nd:0:=0\n\n",
    b"b:\xff 2 1 %FF\n\n",
    b"b:name 2 1 %\nb:name 2 2 %\n\n",
    b"b:name x y z\n\n",
    b"b:name 0 0 data\n\n",
    b"b:name 1 1 %FF%FE%0A%0A\n\n",
    b"u:alice\r\nF:0:doc\r\nd:0:=0\r\n\r\n",
    b"u:alice\rF:0:doc\rr:1:cr\r\r",
    b"u:alice\nF:0:doc\nd:0:=0\n",
    b"\n",
    b"",
]


ABSURD_VERSIONS = [
    b"u:alice\nF:99999999999999999999999:v1\nd:0:=0\n\n",
    b"u:alice\nF:0:v1\nd:99999999999999999999999999:=0\n\n",
    b"u:alice\nF:9007199254740991:v1\nd:9007199254740991:=0\n\n",
    b"u:alice\nF:0:v1\nr:9007199254740991:text\n\n",
    b"u:alice\nF:0:v1\nd:9007199254740991:=4\n\n",
    b"u:alice\nF:9007199254740992:v1\nr:9007199254740992:x\n\n",
]


# Versions past 2^53 - 1 are malformed; those at the edge are answered.
HOSTILE = MALFORMED + ABSURD_VERSIONS


@pytest.mark.parametrize("data", HOSTILE, ids=range(len(HOSTILE)))
def test_malformed_request(bench: Workbench, data: bytes) -> None:
    """A malformed request gets a well-formed (possibly empty) answer or a close."""
    response = attempt(bench.port, data)
    assert well_formed(response)
    bench.healthy()


def test_huge_buffer_claims(bench: Workbench) -> None:
    """A fragment claiming absurdly many slots is refused without allocating them."""
    before = bench.rss_kib()
    for size in (10**8, 10**15, 1001):
        assert attempt(bench.port, f"b:huge {size} 1 u%3Aa\n\n".encode()) == b""
    assert bench.rss_kib() < before + 50_000
    bench.healthy()


def test_endless_buffers_are_capped(bench: Workbench) -> None:
    """Unfinished buffers stop growing at MAX_BUFFERED_BYTES, empty ones included."""
    payload = "x" * 5000
    for request in range(20):
        lines = "".join(f"b:endless{request} 1000 {i} {payload}\n" for i in range(1, 101))
        assert attempt(bench.port, (lines + "\n").encode()) == b""
    for request in range(10):
        lines = "".join(f"b:empty{request}-{i} 2 1 \n" for i in range(2000))
        assert attempt(bench.port, (lines + "\n").encode()) == b""
    # The cap is reached: a buffer that would complete now cannot start.
    split = encode_text("u:bufferuser\nF:0:buffered\nr:1:through a buffer\n")
    half = len(split) // 2
    fragments = f"b:late 2 1 {split[:half]}\nb:late 2 2 {split[half:]}\n\n".encode()
    assert attempt(bench.port, fragments) == b""
    assert bench.rss_kib() < bench.rss_start + 100_000
    bench.healthy()


def test_nesting_beyond_the_limit(bench: Workbench) -> None:
    """A buffer nested deeper than MAX_BUFFER_DEPTH is dropped; two levels work."""
    inner = "u:nester\nF:0:nested\nr:1:deep\n"

    def wrap(text: str, depth: int) -> bytes:
        for _ in range(depth):
            text = f"b:n 1 1 {encode_text(text)}\n"
        return (text + "\n").encode()

    assert attempt(bench.port, wrap(inner, 9)) == b""
    assert attempt(bench.port, wrap(inner, 2)) == b"F:1:nested\nd:0:=4\n"
    bench.healthy()


def test_oversized_request(bench: Workbench) -> None:
    """A request over MAX_REQUEST_BYTES is cut off unanswered and unexecuted."""
    body = b"u:big\nF:0:oversized\n" + b"r:1:" + b"a" * 400_000 + b"\n"
    assert not attempt(bench.port, body * 3 + b"\n")
    assert read_document(bench.port, "oversized") == ""
    bench.healthy()


def test_line_without_end(bench: Workbench) -> None:
    """A line that never ends is cut off at MAX_LINE_BYTES."""
    assert not attempt(bench.port, b"u:alice\nr:1:" + b"z" * 600_000)
    bench.healthy()


def test_document_too_long(bench: Workbench) -> None:
    """A text over MAX_CHARS is refused whole: nothing stored, nothing cut, the writer told."""
    text = "a" * 50_000 + "b" * 100_000
    response = attempt(bench.port, f"u:long\nF:0:long\nR:1:{text}\n\n".encode())
    assert response is not None and response.startswith(b"F:0:long\nx:too_long:100000\n")
    assert read_document(bench.port, "long") == ""
    bench.healthy()


def test_trickling_connection(bench: Workbench) -> None:
    """A byte now and then does not hold a connection past REQUEST_DEADLINE."""
    with socket.create_connection(("127.0.0.1", bench.port), timeout=0.5) as sock:
        closed = False
        for byte in b"u:slow\nF:0:slow\nr:1:" + b"s" * 100:
            try:
                sock.sendall(bytes([byte]))
                closed = sock.recv(1) == b""
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed = True
            if closed:
                break
        assert closed
    bench.healthy()


def test_silent_connections(bench: Workbench) -> None:
    """Connections that say nothing are closed after TIMEOUT_TELNET."""
    sockets = [socket.create_connection(("127.0.0.1", bench.port), timeout=10)
               for _ in range(20)]
    try:
        assert all(sock.recv(1) == b"" for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()
    bench.healthy()


def test_hundreds_of_connections(bench: Workbench) -> None:
    """300 connections at once: those past MAX_CONNECTIONS are refused, all end."""
    sockets = []
    try:
        for _ in range(300):
            sockets.append(socket.create_connection(("127.0.0.1", bench.port), timeout=10))
        ended = 0
        for sock in sockets:
            try:
                ended += sock.recv(1) == b""
            except ConnectionResetError:
                ended += 1
        assert ended == 300
    finally:
        for sock in sockets:
            sock.close()
    assert bench.rss_kib() < bench.rss_start + 100_000
    bench.healthy()


def test_reader_that_never_reads(bench: Workbench) -> None:
    """A client that never reads a large answer is cut off after REQUEST_DEADLINE."""
    text = "r" * 100_000
    assert attempt(bench.port, f"u:owner\nF:0:unread\nr:1:{text}\n\n".encode())
    # Eighty views of one document, each answered with the whole text: 8 MB,
    # more than the kernel buffers of both ends hold.
    request = "".join(f"u:reader{i}\nF:0:unread\nd:5:=0\n" for i in range(80)) + "\n"
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", bench.port))
        sock.sendall(request.encode())
        bench.daemon.wait_for_log("did not read its answer")
        received = 0
        with pytest.raises(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += len(chunk)
        assert received < 80 * 100_000
    bench.healthy()


ODD_NAMES = ["../../etc/passwd", "a/b\\c", "..", ".", "/", "%2e%2e%2f", "~root",
             "con", "name with spaces", "日本語/テキスト", "x" * 500]


@pytest.mark.parametrize("name", ODD_NAMES, ids=range(len(ODD_NAMES)))
def test_odd_document_names(bench: Workbench, name: str) -> None:
    """Odd but valid names are ordinary documents and never become paths."""
    request = f"u:namer\nF:0:{name}\nr:1:text of {encode_text(name)}\n\n".encode()
    assert attempt(bench.port, request) == f"F:1:{name}\nd:0:={8 + len(name)}\n".encode()
    assert read_document(bench.port, name) == f"text of {name}"
    data = bench.workdir / "data"
    assert {p.name for p in data.iterdir()} <= {
        DATABASE_NAME, DATABASE_NAME + "-wal", DATABASE_NAME + "-shm", LOCK_NAME,
        *JOURNAL_NAMES}
    bench.healthy()


BAD_NAMES = [b"x" * 501, b"nul\x00byte", b"tab\tname", b"\xff\xfe", b"\xc0\xae\xc0\xae",
             b"bell\x07"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=range(len(BAD_NAMES)))
def test_bad_document_names(bench: Workbench, name: bytes) -> None:
    """Names that are too long, not UTF-8 or hold control characters are ignored."""
    response = attempt(bench.port, b"u:namer\nF:0:" + name + b"\nr:1:text\n\n")
    assert response == b""
    bench.healthy()


def test_many_views_are_bounded(tmp_path: Path) -> None:
    """Past MAX_VIEWS new views get an empty answer; existing ones carry on."""
    daemon = Daemon(tmp_path, "--max-views", "50").start()
    try:
        first = ClientSession("first")
        first.share("doc", "hello")
        first.apply_response(daemon.exchange(first.build_request()))
        lines = "".join(f"F:0:view{i}\nr:1:x\n" for i in range(100))
        assert daemon.exchange(f"u:greedy\n{lines}\n".encode()) == b""
        for i in range(49):
            reply = daemon.exchange(f"u:u{i}\nF:0:doc\nr:1:x\n\n".encode())
            assert reply.startswith(b"F:1:")
        assert daemon.exchange(b"u:late\nF:0:doc\nr:1:x\n\n") == b""
        first.documents["doc"].text += " world"
        assert daemon.exchange(first.build_request()).startswith(b"F:2:doc")
    finally:
        daemon.stop()


# What the daemon may hold beyond MAX_MEMORY (docs/operating.md, "Memory and
# disk"): requests in flight, journaled rows before their checkpoint, SQLite's
# page caches.
FLOOD_SLACK_KIB = 32 * 1024


def test_a_flood_of_large_anonymous_documents_stays_within_the_budget(
        tmp_path: Path) -> None:
    """Eight clients creating 99,000-character documents under new names, far
    more than MAX_MEMORY holds: the daemon's memory stays within the budget
    plus a constant, every document is stored, and an existing document, long
    gone from memory, is still served with deltas throughout."""
    daemon = Daemon(tmp_path, "--max-memory", "16 MB").start()
    try:
        port = daemon.ports["tcp"]
        owner = ClientSession("owner")
        kept = owner.share("kept", SENTINEL)
        owner.apply_response(tcp_exchange(port, owner.build_request()))
        assert daemon.process is not None
        status = Path(f"/proc/{daemon.process.pid}/status")

        def rss_kib() -> int:
            match = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
            assert match is not None
            return int(match[1])

        start = rss_kib()
        peaks: list[int] = []
        flood = Flood(port, 800, lambda number: (f"flood {number} " * 9000)[:99_000],
                      lambda: peaks.append(rss_kib()))
        for mark in range(10):
            kept.text += f"[{mark} ✔]"
            response = tcp_exchange(port, owner.build_request())
            owner.apply_response(response)
            assert b"\nR:" not in response and not kept.edit_stack
        assert flood.join() == []
        assert max(peaks) < start + 16 * 1024 + FLOOD_SLACK_KIB
        assert read_document(port, "kept") == kept.text
        assert read_document(port, "flood0") == ("flood 0 " * 9000)[:99_000]
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{daemon.ports['gateway']}/metrics", timeout=10).read()
        assert re.search(rb"\nmobwrite_documents_stored 80[12]\.0\n", metrics)
        assert re.search(rb"\nmobwrite_document_evictions_total [1-9]\d\d\.0\n", metrics)
    finally:
        daemon.stop()


def _json_part(value: bytes) -> bytes:
    return base64.urlsafe_b64encode(value).rstrip(b"=")


MALFORMED_TOKENS = [
    b"", b"Bearer", b"Bearer ", b"Basic YWxpY2U6c2VjcmV0", b"Bearer ...", b"Bearer a.b",
    b"Bearer " + b"A" * (MAX_TOKEN_CHARS + 1), b"Bearer " + b"x." * 2000,
    b"Bearer \xff\xfe.\xc3\x28.x",
    b"Bearer " + _json_part(b'{"alg":"none","kid":"x"}') + b"." + _json_part(b"{}") + b".",
    b"Bearer " + _json_part(b'{"alg":"HS256","kid":' + b"[" * 5000 + b"]" * 5000 + b"}")
    + b".e30.sig",
    b"Bearer " + _json_part(b'{"alg":"HS256","kid":"' + b"k" * 4000 + b'"}') + b".e30.sig",
    b"Bearer " + _json_part(b"not json") + b"." + _json_part(b"[]") + b".c2ln",
]


@pytest.mark.parametrize("header", MALFORMED_TOKENS, ids=range(len(MALFORMED_TOKENS)))
def test_malformed_tokens(bench: Workbench, header: bytes) -> None:
    """Broken, oversized and hostile tokens get a one-line 403; the sentinel is untouched."""
    body = b"q=" + urllib.parse.quote_from_bytes(
        b"u:mallory\nF:0:sentinel\nR:0:pwned\n\n").encode()
    request = (b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\n"
               b"Authorization: " + header + b"\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body)
    reply = tcp_exchange(bench.daemon.ports["gateway"], request)
    head, _, text = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 ") and text.startswith(b"forbidden: ")
    assert text.count(b"\n") == 1
    bench.healthy()


@pytest.mark.parametrize("place", ["message", "url"])
@pytest.mark.parametrize("header", MALFORMED_TOKENS, ids=range(len(MALFORMED_TOKENS)))
def test_malformed_tokens_on_the_websocket(bench: Workbench, header: bytes, place: str) -> None:
    """The same tokens on the socket: the request is refused (403 on the socket, 1008 for
    a bad token in the URL, or a refused handshake for a URL too long to read)."""
    token = header.removeprefix(b"Bearer").removeprefix(b" ")
    url = f"ws://127.0.0.1:{bench.daemon.ports['gateway']}/ws"
    with pytest.raises(ClientError) as refused:
        if place == "url":
            connection = SocketConnection(parse_url(
                f"{url}?token={urllib.parse.quote_from_bytes(token)}"), 10.0)
        else:
            connection = SocketConnection(parse_url(url), 10.0, token=token.decode("latin-1"))
        try:
            connection.exchange(b"u:mallory\nF:0:sentinel\nR:0:pwned\n\n")
        finally:
            connection.close()
    assert re.search(r"403 |1008 |HTTP 4\d\d", str(refused.value)), refused.value
    bench.healthy()


def test_sentinel_intact_after_everything(bench: Workbench) -> None:
    """The sentinel document survived the attacks, and a restart, unchanged."""
    assert read_document(bench.port, "sentinel") == SENTINEL
    assert bench.rss_kib() < bench.rss_start + 100_000
    bench.daemon.stop(signal.SIGTERM)
    bench.daemon = Daemon(bench.workdir, *bench.options).start()
    assert read_document(bench.port, "sentinel") == SENTINEL
    bench.healthy()
